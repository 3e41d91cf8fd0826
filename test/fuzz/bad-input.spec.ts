import { randomBytes } from "node:crypto";
import {
  bytesEqual,
  EnvelopeKind,
  type Keypair,
  openEnvelope,
  sealEnvelope,
  signTransaction,
  toBase58,
  toHex,
  transferInstruction,
  UserBlockBuilder,
  userBlockSlotAt,
  userBlockSlotStartMs,
} from "@simd23/core";
import { bankhashverifier, control, envelope, ledger, proposer, tx, vote } from "@simd23/proto";
import { subjects } from "@simd23/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FuzzCluster } from "./cluster.js";
import {
  describeOutcome,
  type Fixture,
  fuzzGrpcMethods,
  fuzzStreams,
  observableState,
  proposersAccepted,
  startFixture,
  stillWorks,
} from "./fixture.js";
import {
  type CallOutcome,
  FUZZ_RUNS,
  GRPC_METHODS,
  grpcClient,
  isTypedRefusal,
  metricSum,
  rawCall,
  rawCallDecoded,
  refusedMessages,
} from "./inputs.js";

// Bad input across the services of one embedded devnet (every role on the in-process bus and
// store, exactly as `simd23 devnet --embedded` runs them): fuzzed requests on every gRPC method,
// fuzzed messages on every stream, then the named attacks of issue 9. Each must get a typed
// refusal — a gRPC status with a reason, or a count in simd23_<role>_messages_refused_total — and
// change nothing: balances and statuses stay, the cluster keeps going, a valid transfer confirms.
// SIMD23_FUZZ_RUNS=<n> sets the cases per property (default 12); fast-check prints the seed and
// the shrunk counterexample of any failure.

let f: Fixture;
let cluster: FuzzCluster;

beforeAll(async () => {
  f = await startFixture("embedded");
  cluster = f.cluster;
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

describe("fuzzed input on every gRPC method and every stream: a typed refusal, no change", () => {
  it("every gRPC method of the five services: random and mutated requests are answered or refused with a reason", () =>
    fuzzGrpcMethods(f, FUZZ_RUNS));

  it("every stream a role consumes: random and mutated messages are refused, counted, and change nothing", () =>
    fuzzStreams(f, FUZZ_RUNS));
});

/** Every UserBlock the LEDGER recorded so far: `<UserBlockSlot>/<proposer hex>`. */
async function recordedUserBlocks(): Promise<Set<string>> {
  const recorded = new Set<string>();
  for await (const m of cluster.bus.replay({
    stream: "LEDGER",
    filterSubjects: [subjects.allLedger],
    start: "all",
    stopAtEnd: true,
  })) {
    const opened = openEnvelope(cluster.genesis, m.data, EnvelopeKind.KIND_LEDGER);
    if (!opened.ok) continue;
    const kind = ledger.LedgerMessage.decode(opened.envelope.body).kind;
    const payload = kind?.$case === "entry" ? kind.value.entry?.payload : undefined;
    if (payload?.$case === "userBlock")
      recorded.add(`${payload.value.userBlockSlot}/${toHex(payload.value.proposer)}`);
  }
  return recorded;
}

async function sleepUntil(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms - Date.now())));
}

/** A UserBlockSlot far enough ahead to prepare for, and the moment to publish in it (two ticks in). */
function upcomingUserBlockSlot(): { u: number; publishAtMs: number } {
  const { timing } = cluster.genesis;
  const u = userBlockSlotAt(timing, Date.now()) + 3;
  return {
    u,
    publishAtMs: userBlockSlotStartMs(timing, u) + (2 * timing.slotDurationMs) / timing.ticksPerSlot,
  };
}

/** A well-formed UserBlock of hashing only (no items), for `u`, signed by `keypair`. */
function emptyUserBlock(keypair: Keypair, u: number, numHashes: number) {
  const builder = new UserBlockBuilder({
    genesis: cluster.genesis,
    keypair,
    userBlockSlot: u,
    activeProposerCount: 2,
  });
  const added = builder.addEntry(numHashes, []);
  if (!added.ok) throw new Error(added.detail);
  return builder.finish();
}

async function submitTo(replica: string, transaction: tx.Transaction): Promise<CallOutcome> {
  const method = GRPC_METHODS.find((m) => m.name === "SubmitTransaction")!;
  const client = grpcClient(cluster.replica(replica).grpcAddress);
  try {
    return await rawCall(
      client,
      method,
      proposer.SubmitTransactionRequest.encode({ transaction, forwarded: false }).finish(),
    );
  } finally {
    client.close();
  }
}

/** `answered`, or the status and reason of a refusal: `ALREADY_EXISTS DUPLICATE`. */
const reasonOf = (outcome: CallOutcome) =>
  outcome.answered ? "answered" : `${outcome.codeName} ${outcome.reason ?? "(no reason)"}`;

describe("named attacks across the services: each refused with its reason, nothing changes", () => {
  it("bad signatures, oversize and over-compute-unit transactions are refused by every proposer", async () => {
    const { limits } = cluster.genesis;
    const { blockhash } = await cluster.client.getLatestBlockhash();
    const signed = (fields: Partial<tx.TransactionMessage>) =>
      signTransaction(
        tx.TransactionMessage.encode({
          signers: [f.alice.publicKey],
          recentBlockhash: blockhash,
          computeUnitLimit: 10_000,
          computeUnitPrice: 0n,
          instructions: [
            { kind: { $case: "transfer", value: { fromSigner: 0, to: f.bob.publicKey, lamports: 7n } } },
          ],
          ...fields,
        }).finish(),
        [f.alice],
      );
    const valid = signed({});
    const badSignature = { ...valid, signatures: [Uint8Array.from(valid.signatures[0]!, (b) => b ^ 1)] };
    const oversize = signed({
      instructions: [{ kind: { $case: "memo", value: { text: "x".repeat(limits.maxTransactionBytes) } } }],
    });
    const overCompute = signed({ computeUnitLimit: limits.maxTransactionComputeUnits + 1 });
    const before = await observableState(f);
    const acceptedBefore = await proposersAccepted(cluster);
    const outcomes: Record<string, string[]> = {};
    for (const [name, transaction] of Object.entries({ badSignature, oversize, overCompute })) {
      const reasons: string[] = [];
      for (const replica of ["proposer-0", "proposer-1"]) {
        const outcome = await submitTo(replica, transaction);
        expect(isTypedRefusal(outcome), describeOutcome(outcome)).toBe(true);
        reasons.push(reasonOf(outcome));
      }
      outcomes[name] = reasons;
    }
    expect(outcomes).toEqual({
      badSignature: ["INVALID_ARGUMENT BAD_SIGNATURE", "INVALID_ARGUMENT BAD_SIGNATURE"],
      oversize: ["INVALID_ARGUMENT OVERSIZE", "INVALID_ARGUMENT OVERSIZE"],
      overCompute: ["INVALID_ARGUMENT OVER_COMPUTE_LIMIT", "INVALID_ARGUMENT OVER_COMPUTE_LIMIT"],
    });
    expect(await proposersAccepted(cluster)).toBe(acceptedBefore);
    expect(await observableState(f)).toEqual(before);
    // Not even received: no status anywhere for any of them.
    const ids = [badSignature, oversize, overCompute].map((t) => t.signatures[0]!);
    expect((await cluster.client.getSignatureStatuses(ids)).map((s) => s.found)).toEqual([
      false,
      false,
      false,
    ]);
  });

  it("one transaction sent to both proposers executes once, and a replay after it executed is a duplicate", async () => {
    const transfer = await cluster.client.buildTransaction({
      signers: [f.alice],
      instructions: [transferInstruction(0, f.bob.publicKey, 1_000n)],
    });
    const before = await observableState(f);
    const first = await submitTo("proposer-0", transfer.wire);
    const second = await submitTo("proposer-1", transfer.wire);
    expect(reasonOf(first)).toBe("answered");
    expect(reasonOf(second)).toBe("ALREADY_EXISTS DUPLICATE");
    const status = await cluster.client.confirm(transfer.signature, "executed", { timeoutMs: 30_000 });
    expect(status.result?.ok).toBe(true);
    const replays = [
      await submitTo("proposer-0", transfer.wire),
      await submitTo("proposer-1", transfer.wire),
    ];
    expect(replays.map(reasonOf)).toEqual(["ALREADY_EXISTS DUPLICATE", "ALREADY_EXISTS DUPLICATE"]);
    // Executed once: bob got 1,000 once, alice paid it and one fee once — also a few slots later.
    const expected = { ...before, alice: before.alice - 1_000n - transfer.fee, bob: before.bob + 1_000n };
    expect(await observableState(f)).toEqual(expected);
    await sleepUntil(Date.now() + 4 * cluster.genesis.timing.slotDurationMs);
    expect(await observableState(f)).toEqual(expected);
  });

  it("votes sealed by a key that is not a validator's, by another validator, or with a bad signature are refused by every consumer", async () => {
    let newest: Uint8Array | undefined;
    for await (const m of cluster.bus.replay({
      stream: "VOTES",
      filterSubjects: [subjects.vote(cluster.validatorKey(0).publicKey)],
      start: "all",
      stopAtEnd: true,
    }))
      newest = m.data;
    const opened = openEnvelope(cluster.genesis, newest!, EnvelopeKind.KIND_VOTE);
    if (!opened.ok) throw opened.error;
    const body = opened.envelope.body;
    const badSignature = envelope.Signed.decode(newest!);
    badSignature.signature = Uint8Array.from(badSignature.signature, (b, i) => (i === 0 ? b ^ 1 : b));
    const consumers = ["leader-0", "executor-1", "bank-hash-verifier-0", "vote-aggregator-0"];
    const reasons = ["unauthorized_signer", "wrong_signer", "bad_signature"];
    const counts = () =>
      Promise.all(
        consumers.flatMap((name) => reasons.map((r) => refusedMessages(cluster.replica(name), "VOTES", r))),
      );
    const before = await observableState(f);
    const base = await counts();
    const subject = subjects.vote(cluster.validatorKey(0).publicKey);
    await cluster.bus.publish(subject, sealEnvelope(cluster.proposerKey(0), EnvelopeKind.KIND_VOTE, body));
    await cluster.bus.publish(subject, sealEnvelope(cluster.validatorKey(1), EnvelopeKind.KIND_VOTE, body));
    await cluster.bus.publish(subject, envelope.Signed.encode(badSignature).finish());
    await expect.poll(counts, { timeout: 10_000 }).toEqual(base.map((b) => b + 1));
    expect(await observableState(f)).toEqual(before);
  });

  it("a halt not sealed by the verifier halts nothing: every role refuses it", async () => {
    const status = await cluster.client.getClusterStatus();
    const halt = control.Halt.encode({
      slot: status.slot,
      tally: undefined,
      evidence: [],
      reason: "forged: more than 1/3 of stake disagrees",
      haltedAtMs: BigInt(Date.now()),
    }).finish();
    // Sealed by a validator; and claiming the verifier as signer with a validator's signature.
    const byValidator = sealEnvelope(cluster.validatorKey(0), EnvelopeKind.KIND_HALT, halt);
    const claimed = envelope.Signed.encode({
      ...envelope.Signed.decode(byValidator),
      signer: cluster.verifierKey().publicKey,
    }).finish();
    const counts = () =>
      Promise.all(
        cluster.replicas.flatMap((r) => [
          refusedMessages(r, "CONTROL", "unauthorized_signer"),
          refusedMessages(r, "CONTROL", "bad_signature"),
        ]),
      );
    const base = await counts();
    await cluster.bus.publish(subjects.halt, byValidator);
    await cluster.bus.publish(subjects.halt, claimed);
    await expect.poll(counts, { timeout: 10_000 }).toEqual(base.map((b) => b + 1));
    expect(Object.values(await cluster.health())).toEqual(cluster.replicas.map(() => "SERVING"));
    expect((await cluster.client.getVerifierStatus()).halted).toBe(false);
    await stillWorks(f);
  });

  it("a BankHash report sealed by another validator or by a non-validator changes no tally", async () => {
    const verifier = cluster.replica("bank-hash-verifier-0");
    const method = GRPC_METHODS.find((m) => m.name === "GetSlotTally")!;
    const tallyOf = async (slot: number) => {
      const client = grpcClient(verifier.grpcAddress);
      try {
        const bytes = await rawCallDecoded(
          client,
          method,
          bankhashverifier.GetSlotTallyRequest.encode({ slot }).finish(),
        );
        return bankhashverifier.GetSlotTallyResponse.decode(bytes);
      } finally {
        client.close();
      }
    };
    const { verifiedSlot } = await cluster.client.getVerifierStatus();
    const slot = Math.max(1, verifiedSlot - 2);
    const before = await tallyOf(slot);
    expect(before.known).toBe(true);
    const forged = (sealer: Keypair, about: Keypair) =>
      sealEnvelope(
        sealer,
        EnvelopeKind.KIND_BANK_HASH_REPORT,
        vote.BankHashReport.encode({
          validator: about.publicKey,
          slot,
          parentSlot: slot - 1,
          bankHashCommitment: randomBytes(32),
          signatureCount: 0,
          transactionCount: 0,
          executionLagSlots: 0,
          executedAtMs: BigInt(Date.now()),
        }).finish(),
      );
    const counts = () =>
      Promise.all(
        ["wrong_signer", "unauthorized_signer"].map((r) => refusedMessages(verifier, "BANKHASHES", r)),
      );
    const base = await counts();
    const about = cluster.validatorKey(1);
    await cluster.bus.publish(
      subjects.bankHashReport(about.publicKey),
      forged(cluster.validatorKey(0), about),
    );
    await cluster.bus.publish(
      subjects.bankHashReport(about.publicKey),
      forged(cluster.proposerKey(0), about),
    );
    await expect.poll(counts, { timeout: 10_000 }).toEqual(base.map((b) => b + 1));
    expect(await tallyOf(slot)).toEqual(before);
    expect((await tallyOf(slot)).mismatchedValidators).toEqual([]);
  });

  it("a UserBlock from a pool proposer that is not scheduled, or from a key outside the pool, is refused and never recorded", async () => {
    const leader = cluster.replica("leader-0");
    const active = new Set(
      (await cluster.client.getProposerStatuses()).flatMap((r) => (r.ok ? r.value.activeProposers : [])),
    );
    const unscheduled = [0, 1, 2]
      .map((i) => cluster.proposerKey(i))
      .find((k) => !active.has(toBase58(k.publicKey)))!;
    const outsider = cluster.validatorKey(0);
    const { u, publishAtMs } = upcomingUserBlockSlot();
    const fromUnscheduled = emptyUserBlock(unscheduled, u, 10);
    const fromOutsider = emptyUserBlock(outsider, u, 10);
    const before = {
      unscheduled: await metricSum(leader, "simd23_leader_user_blocks_refused_total", {
        reason: "unscheduled",
      }),
      unauthorized: await refusedMessages(leader, "USERBLOCKS", "unauthorized_signer"),
    };
    await sleepUntil(publishAtMs);
    await cluster.bus.publish(
      subjects.userBlock(u, unscheduled.publicKey, fromUnscheduled.blockHash),
      sealEnvelope(unscheduled, EnvelopeKind.KIND_USER_BLOCK, fromUnscheduled.bytes),
    );
    await cluster.bus.publish(
      subjects.userBlock(u, outsider.publicKey, fromOutsider.blockHash),
      sealEnvelope(outsider, EnvelopeKind.KIND_USER_BLOCK, fromOutsider.bytes),
    );
    await expect
      .poll(async () => ({
        unscheduled: await metricSum(leader, "simd23_leader_user_blocks_refused_total", {
          reason: "unscheduled",
        }),
        unauthorized: await refusedMessages(leader, "USERBLOCKS", "unauthorized_signer"),
      }))
      .toEqual({ unscheduled: before.unscheduled + 1, unauthorized: before.unauthorized + 1 });
    // Recorded blocks of u (the scheduled proposers') are on the LEDGER a slot later; none of these.
    await sleepUntil(publishAtMs + 3 * cluster.genesis.timing.slotDurationMs);
    const recorded = await recordedUserBlocks();
    expect([...recorded].some((r) => r.startsWith(`${u}/`))).toBe(true);
    expect(recorded.has(`${u}/${toHex(unscheduled.publicKey)}`)).toBe(false);
    expect(recorded.has(`${u}/${toHex(outsider.publicKey)}`)).toBe(false);
  });

  // Last: the equivocating proposer's key is proposer-0's, whose standing it may cost.
  it("an equivocating proposer: two different blocks for one UserBlockSlot, neither recorded, the evidence kept", async () => {
    const leader = cluster.replica("leader-0");
    const equivocator = cluster.proposerKey(0);
    const { u, publishAtMs } = upcomingUserBlockSlot();
    const blocks = [emptyUserBlock(equivocator, u, 10), emptyUserBlock(equivocator, u, 11)];
    expect(toHex(blocks[0]!.blockHash)).not.toBe(toHex(blocks[1]!.blockHash));
    const refusedBefore = await metricSum(leader, "simd23_leader_user_blocks_refused_total", {
      reason: "equivocation",
    });
    await sleepUntil(publishAtMs);
    for (const block of blocks)
      await cluster.bus.publish(
        subjects.userBlock(u, equivocator.publicKey, block.blockHash),
        sealEnvelope(equivocator, EnvelopeKind.KIND_USER_BLOCK, block.bytes),
      );
    await expect
      .poll(() => metricSum(leader, "simd23_leader_user_blocks_refused_total", { reason: "equivocation" }))
      .toBeGreaterThan(refusedBefore);
    const evidence: control.EquivocationEvidence[] = [];
    await expect
      .poll(async () => {
        evidence.length = 0;
        for await (const m of cluster.bus.replay({
          stream: "CONTROL",
          filterSubjects: [subjects.equivocation],
          start: "all",
          stopAtEnd: true,
        })) {
          const opened = openEnvelope(cluster.genesis, m.data, EnvelopeKind.KIND_EQUIVOCATION_EVIDENCE);
          if (opened.ok) evidence.push(control.EquivocationEvidence.decode(opened.envelope.body));
        }
        return evidence.filter((e) => e.userBlockSlot === u && bytesEqual(e.proposer, equivocator.publicKey))
          .length;
      })
      .toBe(1);
    await sleepUntil(publishAtMs + 3 * cluster.genesis.timing.slotDurationMs);
    const recorded = await recordedUserBlocks();
    expect([...recorded].some((r) => r.startsWith(`${u}/`))).toBe(true);
    expect(recorded.has(`${u}/${toHex(equivocator.publicKey)}`)).toBe(false);
    await stillWorks(f);
  });
});
