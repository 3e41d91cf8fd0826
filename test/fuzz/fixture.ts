import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { StreamName } from "@simd23/bus";
import {
  deriveKeypair,
  EnvelopeKind,
  fromBase58,
  type Keypair,
  sealEnvelope,
  signTransaction,
  toHex,
  transferInstruction,
  userBlockSlotAt,
} from "@simd23/core";
import { bankhashverifier, control, executor, leader, proposer, tx, voteaggregator } from "@simd23/proto";
import { subjects } from "@simd23/runtime";
import fc from "fast-check";
import { expect } from "vitest";
import type { SignedTransaction } from "../../packages/client/src/client.js";
import { type Backend, FuzzCluster } from "./cluster.js";
import {
  anyEdit,
  type CallOutcome,
  contentEdit,
  fuzzedBytes,
  GRPC_METHODS,
  grpcClient,
  isTypedRefusal,
  metricSum,
  rawCall,
  refusedMessages,
  untypedGrpcErrors,
} from "./inputs.js";

// The two fuzz properties both backends run — every gRPC method, every stream — and what they
// check afterwards: bad input changed nothing, and the cluster still executes and confirms.

/** A running cluster with two users: alice, funded by an executed airdrop, and bob, her payee. */
export interface Fixture {
  readonly cluster: FuzzCluster;
  readonly alice: Keypair;
  readonly bob: Keypair;
  /** The airdrop's signature: a transaction whose status bad input must not change. */
  readonly airdrop: string;
}

export async function startFixture(backend: Backend): Promise<Fixture> {
  const cluster = await FuzzCluster.start(backend);
  try {
    const alice = deriveKeypair(randomBytes(32), "fuzz-user", 0);
    const bob = deriveKeypair(randomBytes(32), "fuzz-user", 1);
    const sent = await cluster.client.airdrop(alice.publicKey, 10_000_000n, { skipPreflight: true });
    await cluster.client.confirm(sent.signature, "executed", { timeoutMs: 60_000 });
    return { cluster, alice, bob, airdrop: sent.signature };
  } catch (error) {
    await cluster.stop(true);
    throw error;
  }
}

/** What bad input must not change: balances and the statuses of transactions already sent. */
export async function observableState(f: Fixture, signatures: readonly string[] = [f.airdrop]) {
  const { cluster } = f;
  const balance = async (key: Keypair) => (await cluster.client.getBalance(key.publicKey)).lamports;
  const statuses = await cluster.client.getSignatureStatuses(signatures);
  return {
    faucet: await balance(cluster.faucet),
    alice: await balance(f.alice),
    bob: await balance(f.bob),
    // Levels still climb on their own (executed → finalized); what was reached and how it ended may not change.
    statuses: statuses.map((s) => ({
      signature: s.signature,
      executed: s.levels.executed !== undefined,
      ok: s.result?.ok ?? null,
      droppedReason: s.droppedReason,
    })),
  };
}

/** The cluster still makes progress and executes: a fresh transfer from alice confirms. */
export async function stillWorks(f: Fixture): Promise<void> {
  const { cluster } = f;
  const before = await cluster.client.getClusterStatus();
  // The memo makes each call's transfer a new transaction: the client reuses a blockhash for a second.
  const sent = await cluster.client.transfer({
    from: f.alice,
    to: f.bob.publicKey,
    lamports: 1n,
    memo: `still works ${randomBytes(8).toString("hex")}`,
  });
  const status = await cluster.client.confirm(sent.signature, "executed", { timeoutMs: 30_000 });
  expect(status.result?.ok).toBe(true);
  const after = await cluster.client.getClusterStatus();
  expect(after.slot).toBeGreaterThan(before.slot);
  expect(after.halted).toBe(false);
}

/** Transactions the proposers acknowledged, all of them together. */
export async function proposersAccepted(cluster: FuzzCluster): Promise<number> {
  const counts = await Promise.all(
    cluster.replicas
      .filter((r) => r.options.role === "proposer")
      .map((r) => metricSum(r, "simd23_proposer_transactions_accepted_total")),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** A correctly signed transfer from alice whose blockhash no proposer knows: it can never execute. */
function unexecutable(f: Fixture, lamports = 1n): SignedTransaction {
  return f.cluster.client.sign({
    signers: [f.alice],
    instructions: [transferInstruction(0, f.bob.publicKey, lamports)],
    recentBlockhash: randomBytes(32),
  });
}

export function describeOutcome(outcome: CallOutcome): string {
  return outcome.answered
    ? "answered"
    : `${outcome.codeName} ${outcome.reason ?? "(no reason)"}: ${outcome.message}`;
}

/** `/package.Service/Method` of every rpc in the .proto files under proto/simd23. */
function declaredRpcs(): string[] {
  const root = join(import.meta.dirname, "../../proto/simd23");
  const paths: string[] = [];
  for (const dir of readdirSync(root))
    for (const file of readdirSync(join(root, dir, "v1"))) {
      const text = readFileSync(join(root, dir, "v1", file), "utf8");
      const pkg = /^package\s+([\w.]+);/m.exec(text)?.[1];
      let service = "";
      for (const line of text.split("\n")) {
        service = /^service\s+(\w+)/.exec(line)?.[1] ?? service;
        const rpc = /^\s*rpc\s+(\w+)/.exec(line)?.[1];
        if (rpc !== undefined) paths.push(`/${pkg}.${service}/${rpc}`);
      }
    }
  return paths.sort();
}

function tallyOf(seen: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const s of seen) counts.set(s, (counts.get(s) ?? 0) + 1);
  return [...counts].map(([s, n]) => `${n} ${s}`).join(", ");
}

/**
 * `runs` fuzzed requests on every gRPC method of the five services — random bytes, mutated
 * valid requests, and for the submit methods signed transactions of arbitrary fields — each
 * answered or refused with a typed status and reason; then nothing was acknowledged, nothing
 * changed, and no call ended INTERNAL or UNKNOWN.
 */
export async function fuzzGrpcMethods(f: Fixture, runs: number): Promise<void> {
  const { cluster, alice, bob, airdrop } = f;
  const before = await observableState(f);
  const acceptedBefore = await proposersAccepted(cluster);
  const status = await cluster.client.getClusterStatus();
  const exemplars: Record<string, Uint8Array[]> = {
    SubmitTransaction: [false, true].map((forwarded) =>
      proposer.SubmitTransactionRequest.encode({ transaction: unexecutable(f).wire, forwarded }).finish(),
    ),
    SubmitBundle: [
      proposer.SubmitBundleRequest.encode({
        bundle: { transactions: [unexecutable(f, 1n).wire, unexecutable(f, 2n).wire] },
        forwarded: false,
      }).finish(),
    ],
    GetUserBlock: [proposer.GetUserBlockRequest.encode({ blockHash: randomBytes(32) }).finish()],
    GetSlot: [leader.GetSlotRequest.encode({ slot: status.slot }).finish()],
    GetAccount: [executor.GetAccountRequest.encode({ pubkey: alice.publicKey }).finish()],
    GetSignatureStatuses: [
      voteaggregator.GetSignatureStatusesRequest.encode({ signatures: [fromBase58(airdrop)] }).finish(),
    ],
    SubscribeSignatures: [
      voteaggregator.SubscribeSignaturesRequest.encode({ signatures: [fromBase58(airdrop)] }).finish(),
    ],
    GetSlotTally: [
      bankhashverifier.GetSlotTallyRequest.encode({ slot: Math.max(1, status.finalizedSlot) }).finish(),
    ],
  };
  // Signed by alice, so the checks after the signature run, with an unknown blockhash, so none can
  // execute; mostly plausible values, so the checks past the first malformed field run too.
  const mostly = <T>(usual: fc.Arbitrary<T>, any: fc.Arbitrary<T>) =>
    fc.oneof({ arbitrary: usual, weight: 4 }, { arbitrary: any, weight: 1 });
  const instruction = fc.oneof(
    fc.record({
      $case: fc.constant("transfer" as const),
      value: fc.record({
        fromSigner: mostly(fc.constant(0), fc.nat({ max: 3 })),
        to: mostly(fc.constant(bob.publicKey), fc.uint8Array({ maxLength: 40 })),
        lamports: mostly(fc.bigInt({ min: 0n, max: 1_000n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
      }),
    }),
    fc.record({
      $case: fc.constant("memo" as const),
      value: fc.record({ text: mostly(fc.string({ maxLength: 64 }), fc.string({ maxLength: 1_500 })) }),
    }),
    fc.record({
      $case: fc.constant("burnCompute" as const),
      value: fc.record({ units: mostly(fc.nat({ max: 10_000 }), fc.nat({ max: 0xffff_ffff })) }),
    }),
  );
  const signedTransaction = fc
    .record({
      recentBlockhash: mostly(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 40 }),
      ),
      computeUnitLimit: mostly(fc.nat({ max: 200_000 }), fc.nat({ max: 0xffff_ffff })),
      computeUnitPrice: mostly(
        fc.bigInt({ min: 0n, max: 1_000n }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
      ),
      instructions: mostly(
        fc.array(fc.record({ kind: instruction }), { minLength: 1, maxLength: 3 }),
        fc.array(fc.record({ kind: instruction }), { maxLength: 70 }),
      ),
    })
    .map((fields) =>
      signTransaction(tx.TransactionMessage.encode({ signers: [alice.publicKey], ...fields }).finish(), [
        alice,
      ]),
    );
  const structured: Record<string, fc.Arbitrary<Uint8Array>> = {
    SubmitTransaction: fc
      .record({ transaction: signedTransaction, forwarded: fc.boolean() })
      .map((request) => proposer.SubmitTransactionRequest.encode(request).finish()),
    SubmitBundle: fc
      .record({
        transactions: mostly(
          fc.array(signedTransaction, { minLength: 1, maxLength: 3 }),
          fc.array(signedTransaction, { maxLength: 8 }),
        ),
        forwarded: fc.boolean(),
      })
      .map(({ transactions, forwarded }) =>
        proposer.SubmitBundleRequest.encode({ bundle: { transactions }, forwarded }).finish(),
      ),
  };
  const cases: Record<string, string[]> = {};
  for (const method of GRPC_METHODS) {
    const replica = cluster.replicas.find((r) => r.options.role === method.role)!;
    const client = grpcClient(replica.grpcAddress);
    const seen: string[] = [];
    try {
      await fc.assert(
        fc.asyncProperty(
          fuzzedBytes(exemplars[method.name] ?? [], anyEdit, structured[method.name]),
          async ({ how, bytes }) => {
            const outcome = await rawCall(client, method, bytes);
            seen.push(`${how}: ${outcome.answered ? "answered" : outcome.reason}`);
            if (!outcome.answered)
              expect(isTypedRefusal(outcome), `${method.path}: ${describeOutcome(outcome)}`).toBe(true);
          },
        ),
        { numRuns: runs },
      );
    } finally {
      client.close();
    }
    cases[method.path] = seen;
  }
  // Every rpc the .proto files declare was fuzzed.
  expect(Object.keys(cases).sort()).toEqual(declaredRpcs());
  console.log(
    `gRPC fuzz, ${runs} cases per method:\n${Object.entries(cases)
      .map(([path, seen]) => `  ${path}: ${tallyOf(seen)}`)
      .join("\n")}`,
  );
  for (const replica of cluster.replicas)
    expect({ [replica.name]: await untypedGrpcErrors(replica) }).toEqual({
      [replica.name]: 0,
    });
  expect(await proposersAccepted(cluster)).toBe(acceptedBefore);
  expect(await observableState(f)).toEqual(before);
  await stillWorks(f);
}

/**
 * `runs` fuzzed messages on every subject a role consumes — random bytes and valid messages with
 * their signed content mutated — each refused and counted once by the replica that acts on it;
 * then nothing changed and the cluster still executes.
 */
export async function fuzzStreams(f: Fixture, runs: number): Promise<void> {
  const { cluster } = f;
  const before = await observableState(f);
  const { genesis } = cluster;
  const u = userBlockSlotAt(genesis.timing, Date.now()) + 2;
  const validator0 = cluster.validatorKey(0);
  const newestSlot = (await cluster.client.getClusterStatus()).slot;
  const real = async (stream: StreamName, subject: string, limit = 8): Promise<Uint8Array[]> => {
    const found: Uint8Array[] = [];
    for await (const m of cluster.bus.replay({
      stream,
      filterSubjects: [subject],
      start: "all",
      stopAtEnd: true,
    }))
      if (found.length < limit) found.push(m.data);
    return found;
  };
  // A halt and a mismatch report sealed by a validator, not the verifier: refused even unmutated.
  const forgedHalt = sealEnvelope(
    validator0,
    EnvelopeKind.KIND_HALT,
    control.Halt.encode({
      slot: newestSlot,
      tally: undefined,
      evidence: [],
      reason: "forged",
      haltedAtMs: 0n,
    }).finish(),
  );
  const forgedMismatch = sealEnvelope(
    validator0,
    EnvelopeKind.KIND_MISMATCH_REPORT,
    control.MismatchReport.encode({ slot: newestSlot, evidence: [], tally: undefined }).finish(),
  );
  const byName = (name: string) => cluster.replica(name);
  const held = (await cluster.client.getProposerStatuses()).find((r) => r.ok);
  if (held === undefined || !held.ok) throw new Error("no proposer answered GetProposerStatus");
  const heldPoolIndex = genesis.proposerPool.findIndex(
    (p) => toHex(p.identity) === toHex(fromBase58(held.value.identity)),
  );
  // Per subject family: where it is published, what it is mutated from, and which replica must
  // refuse and count every one of them (the consumer that acts on it).
  const families: {
    readonly name: string;
    readonly stream: StreamName;
    readonly subject: () => string;
    readonly exemplars: Uint8Array[];
    /** Each entry: replicas whose counts together must grow by one per message (one of them acts on it). */
    readonly counters: readonly (readonly string[])[];
  }[] = [
    {
      name: "UserBlock",
      stream: "USERBLOCKS",
      subject: () => subjects.userBlock(u, cluster.proposerKey(0).publicKey, randomBytes(32)),
      exemplars: await real("USERBLOCKS", subjects.allUserBlocks),
      counters: [["leader-0"]],
    },
    {
      name: "ledger message",
      stream: "LEDGER",
      subject: () => subjects.ledgerSlot(newestSlot),
      exemplars: await real("LEDGER", subjects.allLedger),
      counters: [["executor-0"], ["bank-hash-verifier-0"], ["vote-aggregator-0"], ["proposer-0"]],
    },
    {
      name: "vote",
      stream: "VOTES",
      subject: () => subjects.vote(validator0.publicKey),
      exemplars: await real("VOTES", subjects.allVotes),
      counters: [["executor-1"], ["bank-hash-verifier-0"], ["leader-0"]],
    },
    {
      name: "BankHash report",
      stream: "BANKHASHES",
      subject: () => subjects.bankHashReport(validator0.publicKey),
      exemplars: await real("BANKHASHES", subjects.allBankHashReports),
      counters: [["bank-hash-verifier-0"]],
    },
    {
      name: "slot verdict",
      stream: "BANKHASHES",
      subject: () => subjects.verdicts,
      exemplars: await real("BANKHASHES", subjects.verdicts),
      counters: [["vote-aggregator-0"]],
    },
    {
      name: "halt",
      stream: "CONTROL",
      subject: () => subjects.halt,
      exemplars: [forgedHalt],
      counters: cluster.replicas.map((r) => [r.name]),
    },
    {
      name: "mismatch report",
      stream: "CONTROL",
      subject: () => subjects.mismatch,
      exemplars: [forgedMismatch],
      counters: [["executor-0"], ["executor-2"]],
    },
    {
      name: "membership request",
      stream: "CONTROL",
      subject: () => subjects.membership,
      exemplars: await real("CONTROL", subjects.membership),
      counters: [["leader-0"]],
    },
    {
      name: "intake item",
      stream: "INTAKE",
      subject: () => subjects.intake(heldPoolIndex),
      exemplars: await real("INTAKE", "intake.>"),
      // The pool keys are leased, not fixed to a replica: whichever holds it consumes its intake.
      counters: [["proposer-0", "proposer-1"]],
    },
  ];
  for (const family of families) {
    if (family.name !== "halt" && family.name !== "mismatch report")
      expect({ [family.name]: family.exemplars.length > 0 }).toEqual({ [family.name]: true });
    const counted = async () =>
      Promise.all(
        family.counters.map(async (group) => {
          const counts = await Promise.all(group.map((name) => refusedMessages(byName(name), family.stream)));
          return counts.reduce((a, b) => a + b, 0);
        }),
      );
    const base = await counted();
    let published = 0;
    await fc.assert(
      fc.asyncProperty(fuzzedBytes(family.exemplars, contentEdit), async ({ bytes }) => {
        await cluster.bus.publish(family.subject(), bytes);
        published++;
      }),
      { numRuns: runs },
    );
    const expected = base.map((b) => b + published);
    await expect
      .poll(counted, {
        timeout: 15_000,
        message: `${family.name}: refusals by ${family.counters.map((g) => g.join(" or ")).join(", ")}`,
      })
      .toEqual(expected);
  }
  // Equivocation evidence is the leader's record for operators: no role acts on it.
  await fc.assert(
    fc.asyncProperty(fuzzedBytes([], contentEdit), async ({ bytes }) => {
      await cluster.bus.publish(subjects.equivocation, bytes);
    }),
    { numRuns: runs },
  );
  expect(await observableState(f)).toEqual(before);
  await stillWorks(f);
}
