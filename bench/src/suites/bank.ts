import {
  AccountsLattice,
  accountLatticeInput,
  type Bank,
  buildTransaction,
  bytesEqual,
  createGenesisBank,
  createTestnetGenesis,
  genesisHash,
  keypairFromSeed,
  LATTICE_BYTES,
  type LatticeKernel,
  latticeImplementation,
  latticeKernels,
  sha256,
  signingInput,
  TRANSACTION_SIGNING_DOMAIN,
  transferInstruction,
  type UserBlockForExecution,
  utf8,
  type ValidTransaction,
  validateGenesis,
  verifySignature,
  withLatticeKernel,
} from "@simd23/core";
import { type Figure, measureRate, type Suite } from "../harness.js";

const PAYERS = 2_000;
const RECEIVERS = 10_000;
const BLOCKS = 8;
const MEASURE_MS = 1_000;

const seedOf = (label: string) => sha256(utf8(`simd23/bench/bank/${label}`));

/**
 * One UserBlockSlot of PAYERS transfers, each from its own funded payer to one
 * of RECEIVERS keys, at assorted priority prices, split over BLOCKS UserBlocks.
 */
function workload() {
  const payers = Array.from({ length: PAYERS }, (_, i) => keypairFromSeed(seedOf(`payer/${i}`)));
  const receivers = Array.from({ length: RECEIVERS }, (_, i) => seedOf(`receiver/${i}`));
  const base = createTestnetGenesis({
    clusterName: "bench-bank",
    clusterSeed: seedOf("cluster"),
    startTimeMs: 0n,
    validators: 1,
    proposerPool: BLOCKS,
  });
  const genesis = validateGenesis({
    ...base,
    validators: [...base.validators],
    proposerPool: [...base.proposerPool],
    accounts: [...base.accounts, ...payers.map((p) => ({ pubkey: p.publicKey, lamports: 1_000_000_000n }))],
  });
  const blockhash = genesisHash(genesis);
  const transactions: ValidTransaction[] = payers.map((payer, i) =>
    buildTransaction(
      {
        recentBlockhash: blockhash,
        computeUnitLimit: 1_000,
        computeUnitPrice: BigInt((i * 7_919) % 1_000),
        instructions: [transferInstruction(0, receivers[(i * 104_729) % RECEIVERS]!, 1_000n + BigInt(i))],
      },
      [payer],
      genesis.limits,
    ),
  );
  const blocks: UserBlockForExecution[] = Array.from({ length: BLOCKS }, (_, b) => ({
    proposer: base.proposerPool[b]!.identity,
    entryIndex: b,
    items: transactions
      .filter((_, i) => i % BLOCKS === b)
      .map((t, i) => ({ item: { item: { $case: "transaction", value: t.wire } }, pohPosition: i + 1 })),
  }));
  return { genesis, transactions, blocks };
}

const LATTICE_KEYS = 1_000;

/** Elements per second of one kernel, computing `count` elements (inputs back to back) per call. */
async function elementRate(kernel: LatticeKernel, inputs: Uint8Array, count: number): Promise<number> {
  const out = new Uint8Array(count * LATTICE_BYTES);
  return measureRate(() => {
    kernel.elements(inputs, out);
    return count;
  }, MEASURE_MS);
}

/** Account updates per second through AccountsLattice on one kernel: LATTICE_KEYS updates, then a read. */
async function updateRate(kernel: LatticeKernel, keys: readonly Uint8Array[]): Promise<number> {
  return measureRate(() => {
    const lattice = withLatticeKernel(kernel, () => AccountsLattice.empty());
    for (const [i, key] of keys.entries()) lattice.update(key, BigInt(i + 1), BigInt(i + 2));
    lattice.toBytes();
    return keys.length;
  }, MEASURE_MS);
}

const suite: Suite = {
  name: "bank",
  description:
    `The bank executing one UserBlockSlot of ${PAYERS.toLocaleString("en")} transfers (distinct payers, ` +
    `${RECEIVERS.toLocaleString("en")} receivers, ${BLOCKS} UserBlocks) and freezing it (lattice update and ` +
    "BankHash), with signatures verified by the bank and with them pre-verified. Baselines: node:crypto ed25519 " +
    "verification of the same transactions with cached KeyObjects, which bounds a checking bank; and the same " +
    "bank with its accounts lattice on @noble/hashes (pure JavaScript, the implementation before the native " +
    "kernel). Then every lattice implementation available here (the addon's BLAKE3 kernels, hash-wasm's " +
    `WebAssembly, @noble/hashes) against @noble/hashes: elements (blake3 with 2048 bytes of output of a 40-byte ` +
    `input, ${LATTICE_KEYS.toLocaleString("en")} per batch) and account updates through AccountsLattice ` +
    `(${LATTICE_KEYS.toLocaleString("en")} updates, each subtracting the old element and adding the new one, ` +
    "then one read that applies them as one batch).",
  async run(): Promise<Figure[]> {
    const { genesis, transactions, blocks } = workload();
    const fastest = latticeImplementation().implementation;
    const noble = latticeKernels().find((kernel) => kernel.implementation === "js")!;
    const lastPohHash = seedOf("poh/1");
    const fastRoot = createGenesisBank(genesis);
    const nobleRoot = withLatticeKernel(noble, () => createGenesisBank(genesis));
    const executeOnce = (root: Bank, signatureCheck?: (t: ValidTransaction) => boolean) => {
      const bank = root.newChild(1);
      const results = bank.executeUserBlockSlot(1, blocks, signatureCheck ? { signatureCheck } : {});
      bank.freeze(lastPohHash);
      return results.length;
    };
    /** Freezes per second, timing the freeze alone (the slot's execution before it is not counted). */
    const freezeRate = (root: Bank) => {
      let frozen = 0;
      let elapsed = 0;
      while (elapsed < MEASURE_MS || frozen < 3) {
        const bank = root.newChild(1);
        bank.executeUserBlockSlot(1, blocks, { signatureCheck: () => true });
        const start = performance.now();
        bank.freeze(lastPohHash);
        elapsed += performance.now() - start;
        frozen++;
      }
      return (frozen * 1000) / elapsed;
    };
    const verified = await measureRate(() => {
      let ok = 0;
      for (const t of transactions)
        if (verifySignature(t.feePayer, signingInput(TRANSACTION_SIGNING_DOMAIN, t.wire.message), t.id)) ok++;
      if (ok !== transactions.length) throw new Error("a benchmark transaction failed verification");
      return ok;
    }, MEASURE_MS);
    const checked = await measureRate(() => executeOnce(fastRoot), MEASURE_MS);
    const trusted = await measureRate(() => executeOnce(fastRoot, () => true), MEASURE_MS);
    const trustedNoble = await measureRate(() => executeOnce(nobleRoot, () => true), MEASURE_MS);
    const freezes = freezeRate(fastRoot);
    const freezesNoble = freezeRate(nobleRoot);
    if (
      !bytesEqual(
        executeAndHash(fastRoot, blocks, lastPohHash),
        executeAndHash(nobleRoot, blocks, lastPohHash),
      )
    )
      throw new Error("the lattice implementations disagree on the BankHash");

    const keys = Array.from({ length: LATTICE_KEYS }, (_, i) => seedOf(`lattice/${i}`));
    const inputs = new Uint8Array(keys.flatMap((key, i) => [...accountLatticeInput(key, BigInt(i + 1))]));
    const nobleElements = await elementRate(noble, inputs, keys.length);
    const nobleUpdates = await updateRate(noble, keys);
    const latticeFigures: Figure[] = [];
    for (const kernel of latticeKernels()) {
      if (kernel === noble) continue;
      latticeFigures.push(
        {
          name: `lattice elements, ${kernel.implementation}`,
          value: await elementRate(kernel, inputs, keys.length),
          unit: "elements/s",
          baseline: { name: "@noble/hashes", value: nobleElements },
        },
        {
          name: `lattice account updates, ${kernel.implementation}`,
          value: await updateRate(kernel, keys),
          unit: "accounts/s",
          baseline: { name: "@noble/hashes", value: nobleUpdates },
          note: "an update hashes the old and the new state: half the element rate is the floor",
        },
      );
    }

    const verifyBaseline = { name: "ed25519 verify (node:crypto, cached KeyObject)", value: verified };
    const nobleBank = { name: "the same bank, lattice on @noble/hashes", value: trustedNoble };
    return [
      {
        name: `bank transfers, signatures verified (lattice: ${fastest})`,
        value: checked,
        unit: "transactions/s",
        baseline: verifyBaseline,
      },
      {
        name: `bank transfers, signatures pre-verified (lattice: ${fastest})`,
        value: trusted,
        unit: "transactions/s",
        baseline: nobleBank,
      },
      {
        name: `freezing the slot (lattice: ${fastest})`,
        value: freezes,
        unit: "freezes/s",
        baseline: { name: "lattice on @noble/hashes", value: freezesNoble },
        note: `${(1000 / freezes).toFixed(1)} ms against ${(1000 / freezesNoble).toFixed(1)} ms per slot`,
      },
      ...latticeFigures,
    ];
  },
};

/** The BankHash of slot 1 executed on root (pre-verified signatures). */
function executeAndHash(
  root: Bank,
  blocks: readonly UserBlockForExecution[],
  lastPohHash: Uint8Array,
): Uint8Array {
  const bank = root.newChild(1);
  bank.executeUserBlockSlot(1, blocks, { signatureCheck: () => true });
  return bank.freeze(lastPohHash);
}

export default suite;
