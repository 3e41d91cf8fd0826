import type { control } from "@simd23/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { genesisHash } from "../genesis.js";
import { burnComputeInstruction, type ValidTransaction } from "../tx/transaction.js";
import { type Bank, createGenesisBank } from "./bank.js";
import { fixtureGenesis, pohHashOf, transfer, user, userBlock } from "./fixture.js";
import { BankForks, executeSlot, type SlotExecutionInput } from "./forks.js";
import { decodeBankSnapshot, encodeBankSnapshot } from "./snapshot.js";

/**
 * Random ledgers: a chain of slots (some skipped), each recording UserBlockSlots
 * of blocks with transfers, bundles, repeats, expired blockhashes and
 * transactions that run out of funds or compute units.
 */
const FUNDED = 4;
const ACCOUNTS = 7; // users FUNDED..ACCOUNTS-1 start empty
const genesis = fixtureGenesis([600_000n, 300_000n, 40_000n, 6_000n]);

interface TxSpec {
  readonly from: number;
  readonly to: number;
  readonly lamports: bigint;
  readonly price: bigint;
  readonly limit: number;
  readonly burn: number;
  /** How many slots back the blockhash is (may be expired). */
  readonly age: number;
}

type ItemSpec =
  | { readonly tx: TxSpec }
  | { readonly forged: TxSpec }
  | { readonly bundle: readonly TxSpec[] }
  | { readonly repeat: number };

interface SlotSpec {
  readonly gap: number;
  readonly userBlockSlots: readonly (readonly (readonly ItemSpec[])[])[];
}

const txSpec: fc.Arbitrary<TxSpec> = fc.record({
  from: fc.oneof(fc.nat(FUNDED - 1), fc.nat(ACCOUNTS - 1)),
  to: fc.nat(ACCOUNTS - 1),
  lamports: fc.oneof(fc.bigInt({ min: 0n, max: 50_000n }), fc.bigInt({ min: 0n, max: 700_000n })),
  price: fc.bigInt({ min: 0n, max: 3_000n }),
  limit: fc.constantFrom(500, 1_000, 5_000),
  burn: fc.constantFrom(0, 0, 2_000),
  age: fc.nat(6),
});
const itemSpec: fc.Arbitrary<ItemSpec> = fc.oneof(
  { weight: 4, arbitrary: txSpec.map((tx) => ({ tx })) },
  { weight: 1, arbitrary: fc.array(txSpec, { minLength: 1, maxLength: 3 }).map((bundle) => ({ bundle })) },
  { weight: 1, arbitrary: fc.nat(50).map((repeat) => ({ repeat })) },
  { weight: 1, arbitrary: txSpec.map((forged) => ({ forged })) },
);
const slotSpec: fc.Arbitrary<SlotSpec> = fc.record({
  gap: fc.constantFrom(1, 1, 2),
  userBlockSlots: fc.array(fc.array(fc.array(itemSpec, { maxLength: 4 }), { maxLength: 3 }), {
    minLength: 1,
    maxLength: 2,
  }),
});
const ledgerSpec = fc.array(slotSpec, { minLength: 1, maxLength: 6 });

/** Turns a ledger description into signed inputs for executeSlot, slot by slot. */
function buildLedger(slots: readonly SlotSpec[]): SlotExecutionInput[] {
  const built: ValidTransaction[] = [];
  const hashes: Uint8Array[] = [genesisHash(genesis)];
  const ledger: SlotExecutionInput[] = [];
  let slot = 0;
  const make = (spec: TxSpec): ValidTransaction => {
    const t = transfer(user(spec.from), user(spec.to).publicKey, spec.lamports, {
      blockhash: hashes[Math.max(0, hashes.length - 1 - spec.age)]!,
      computeUnitPrice: spec.price,
      computeUnitLimit: spec.limit,
      instructions: spec.burn > 0 ? [burnComputeInstruction(spec.burn)] : [],
    });
    built.push(t);
    return t;
  };
  for (const spec of slots) {
    slot += spec.gap;
    const userBlockSlots = spec.userBlockSlots.map((blocks, k) => ({
      userBlockSlot: 2 * slot - (spec.userBlockSlots.length - 1) + k,
      blocks: blocks.map((items, b) =>
        userBlock(
          b,
          b,
          items.map((item) => {
            if ("tx" in item) return make(item.tx);
            if ("forged" in item) {
              const t = make(item.forged);
              return { ...t, wire: { ...t.wire, signatures: [new Uint8Array(64)] } };
            }
            if ("bundle" in item) {
              const bundle = item.bundle.map(make);
              return new Set(bundle.map((t) => Buffer.from(t.id).toString("hex"))).size === bundle.length
                ? bundle
                : bundle[0]!;
            }
            return built[item.repeat % Math.max(1, built.length)] ?? make({ ...emptySpec });
          }),
        ),
      ),
    }));
    ledger.push({ slot, lastPohHash: pohHashOf(slot), userBlockSlots });
    hashes.push(pohHashOf(slot));
  }
  return ledger;
}

const emptySpec: TxSpec = { from: 0, to: 1, lamports: 1n, price: 0n, limit: 1_000, burn: 0, age: 0 };

function totalLamports(bank: Bank): bigint {
  let total = bank.balance(genesis.faucet);
  for (let i = 0; i < ACCOUNTS; i++) total += bank.balance(user(i).publicKey);
  return total;
}

function replay(ledger: readonly SlotExecutionInput[]): {
  hashes: Uint8Array[];
  results: control.TransactionResult[];
} {
  let bank = createGenesisBank(genesis);
  const hashes = [bank.bankHash];
  const results: control.TransactionResult[] = [];
  for (const input of ledger) {
    const executed = executeSlot(bank, input);
    bank = executed.bank;
    hashes.push(executed.bankHash);
    results.push(...executed.results);
  }
  return { hashes, results };
}

describe("bank properties", () => {
  it("conserves lamports apart from the fees it burns", () => {
    fc.assert(
      fc.property(ledgerSpec, (slots) => {
        let bank = createGenesisBank(genesis);
        const start = totalLamports(bank);
        let fees = 0n;
        for (const input of buildLedger(slots)) {
          const executed = executeSlot(bank, input);
          bank = executed.bank;
          for (const result of executed.results) fees += result.fee;
          for (let i = 0; i < ACCOUNTS; i++)
            expect(bank.balance(user(i).publicKey)).toBeGreaterThanOrEqual(0n);
        }
        expect(start - totalLamports(bank)).toBe(fees);
      }),
      { numRuns: 25 },
    );
  });

  it("replaying the same ledger gives the same BankHashes and results", () => {
    fc.assert(
      fc.property(ledgerSpec, (slots) => {
        const ledger = buildLedger(slots);
        const first = replay(ledger);
        const second = replay(ledger);
        expect(second.hashes).toEqual(first.hashes);
        expect(second.results).toEqual(first.results);
        expect(new Set(first.hashes.map((h) => Buffer.from(h).toString("hex"))).size).toBe(
          first.hashes.length,
        );
      }),
      { numRuns: 15 },
    );
  });

  it("a snapshot of any root, restored, continues the same BankHash chain", () => {
    fc.assert(
      fc.property(ledgerSpec, fc.nat(), (slots, cut) => {
        const ledger = buildLedger(slots);
        const straight = replay(ledger);
        const rootIndex = cut % (ledger.length + 1);
        const forks = new BankForks(createGenesisBank(genesis));
        for (const input of ledger.slice(0, rootIndex)) {
          const executed = executeSlot(forks.get(forks.slots().at(-1)!)!, input);
          forks.insert(executed.bank);
        }
        forks.setRoot(forks.slots().at(-1)!);
        let bank = decodeBankSnapshot(encodeBankSnapshot(forks.root), genesis);
        const hashes = [bank.bankHash];
        for (const input of ledger.slice(rootIndex)) {
          bank = executeSlot(bank, input).bank;
          hashes.push(bank.bankHash);
        }
        expect(hashes).toEqual(straight.hashes.slice(rootIndex));
      }),
      { numRuns: 15 },
    );
  });
});
