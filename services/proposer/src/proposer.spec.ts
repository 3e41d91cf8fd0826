import { randomBytes } from "node:crypto";
import { EnvelopeKind, toHex } from "@simd23/core";
import { control, tx } from "@simd23/proto";
import {
  ProposerDirectory,
  proposerKeypair,
  SignedPublisher,
  StatusIndex,
  sealIntakeItem,
  subjects,
  verifierKeypair,
} from "@simd23/runtime";
import { readRejection } from "@simd23/service-kit";
import { afterEach, describe, expect, it } from "vitest";
import { encodeItem } from "./private/block-assembly.js";
import { intakeMarkerKey, intakePublishOptions } from "./private/intake-wire.js";
import {
  InProcessCluster,
  latestBlockhash,
  metricValue,
  proposerStatus,
  type RunningProposer,
  submit,
  userBlockOf,
  waitFor,
} from "./testing/cluster.js";

const DROPPED = 7; // ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED

describe("a proposer replica on the in-process bus and store", () => {
  let cluster: InProcessCluster | undefined;
  afterEach(async () => {
    await cluster?.close();
    cluster = undefined;
  });

  async function start(options: ConstructorParameters<typeof InProcessCluster>[0] = {}) {
    cluster = new InProcessCluster(options);
    cluster.ledger.start();
    return cluster;
  }

  async function fresh(c: InProcessCluster, via: RunningProposer, options: { price?: bigint } = {}) {
    const { blockhash } = await latestBlockhash(via.client);
    return c.transaction({ ...options, blockhash });
  }

  const recorded = (c: InProcessCluster, ids: readonly Uint8Array[]) => {
    const all = c.ledger.recordedTransactions();
    return ids.every((id) => all.has(toHex(id)));
  };

  it("joins the schedule, takes transactions, routes them by fee payer, and every accepted one is recorded", async () => {
    const c = await start();
    const a = await c.startProposer();
    const b = await c.startProposer();
    expect(new Set([a.role.poolIndex, b.role.poolIndex])).toEqual(new Set([0, 1]));
    await waitFor(
      "both proposers active",
      async () => (await proposerStatus(a.client)).activeProposers.length === 2,
    );

    const sent = await Promise.all(Array.from({ length: 40 }, () => fresh(c, a)));
    const responses = await Promise.all(sent.map((t, i) => submit((i % 2 === 0 ? a : b).client, t.wire)));
    for (const [i, response] of responses.entries())
      expect(toHex(response.signature)).toBe(toHex(sent[i]!.id));
    expect(responses.some((r) => r.forwarded)).toBe(true);
    expect(new Set(responses.map((r) => toHex(r.proposer))).size).toBe(2);

    await waitFor("every accepted transaction recorded", () =>
      recorded(
        c,
        sent.map((t) => t.id),
      ),
    );
    // Each was recorded in a block of the proposer that said it holds it.
    const byBlock = new Map(
      c.ledger.recorded.flatMap((e) => e.block.items.map((item) => [toHex(item.digest), e.proposer])),
    );
    expect(byBlock.size).toBeGreaterThanOrEqual(40);
    for (const [i, t] of sent.entries()) {
      const entry = c.ledger.recorded.find((e) =>
        e.block.items.some(
          (item) => item.valid.kind === "transaction" && toHex(item.valid.transaction.id) === toHex(t.id),
        ),
      );
      expect(entry?.proposer).toBe(toHex(responses[i]!.proposer));
    }
    const statuses = await new StatusIndex({ store: c.store }).get(sent.map((t) => t.id));
    for (const status of statuses) expect(status.levels.map((l) => l.level).slice(0, 2)).toEqual([1, 2]);
    expect(
      await metricValue(a, "simd23_proposer_transactions_accepted_total", { kind: "transaction" }),
    ).toBeGreaterThan(0);
    // Recorded blocks are settled (their INTAKE messages acknowledged) once the ledger is deep enough.
    await waitFor(
      "blocks settled as recorded",
      async () => (await metricValue(a, "simd23_proposer_user_blocks_recorded_total")) > 0,
    );
  });

  it("refuses bad submissions with typed reasons and counts them", async () => {
    const c = await start();
    const a = await c.startProposer();
    const valid = await fresh(c, a);
    const refusal = async (transaction: tx.Transaction) =>
      readRejection(
        await submit(a.client, transaction).then(
          () => undefined,
          (error: unknown) => error,
        ),
      )?.rejectReason;
    expect(await refusal({ ...valid.wire, signatures: [new Uint8Array(64).fill(7)] })).toBe(
      tx.RejectReason.REJECT_REASON_BAD_SIGNATURE,
    );
    expect(await refusal({ message: new Uint8Array([0xff, 0xff]), signatures: [] })).toBe(
      tx.RejectReason.REJECT_REASON_MALFORMED,
    );
    expect(await refusal({ ...valid.wire, message: new Uint8Array(2_000) })).toBe(
      tx.RejectReason.REJECT_REASON_OVERSIZE,
    );
    const overCompute = c.transaction({ units: c.genesis.limits.maxTransactionComputeUnits + 1 });
    expect(await refusal(overCompute.wire)).toBe(tx.RejectReason.REJECT_REASON_OVER_COMPUTE_LIMIT);
    const unknownBlockhash = c.transaction({ blockhash: new Uint8Array(32).fill(9) });
    expect(await refusal(unknownBlockhash.wire)).toBe(tx.RejectReason.REJECT_REASON_BLOCKHASH_NOT_FOUND);
    await submit(a.client, valid.wire);
    expect(await refusal(valid.wire)).toBe(tx.RejectReason.REJECT_REASON_DUPLICATE);
    for (const reason of [
      "bad_signature",
      "malformed",
      "oversize",
      "over_compute_limit",
      "blockhash_not_found",
      "duplicate",
    ])
      expect(await metricValue(a, "simd23_proposer_transactions_refused_total", { reason })).toBe(1);
    expect(await metricValue(a, "simd23_proposer_transactions_accepted_total")).toBe(1);
  });

  it("refuses with QUEUE_FULL when its queue is full", async () => {
    const c = await start({ env: { SIMD23_PROPOSER_QUEUE_LIMIT: "3" } });
    // Not scheduled yet: what it accepts waits in its queue.
    const a = await c.startProposer();
    const results = [];
    for (let i = 0; i < 5; i++) {
      const t = await fresh(c, a);
      results.push(
        await submit(a.client, t.wire).then(
          () => "accepted",
          (e: unknown) => readRejection(e)?.reason,
        ),
      );
    }
    expect(results.filter((r) => r === "accepted").length).toBeGreaterThanOrEqual(3);
    expect(results).toContain("QUEUE_FULL");
  });

  it("proposes again the items of a UserBlock the ledger did not record", async () => {
    let ignored = 0;
    const c = await start({
      ledger: { ignoreBlock: (block) => block.items.length > 0 && ignored++ === 0 },
    });
    const a = await c.startProposer();
    await waitFor("scheduled", async () => (await proposerStatus(a.client)).scheduled);
    const sent = await Promise.all(Array.from({ length: 5 }, () => fresh(c, a)));
    await Promise.all(sent.map((t) => submit(a.client, t.wire)));
    await waitFor("recorded after a requeue", () =>
      recorded(
        c,
        sent.map((t) => t.id),
      ),
    );
    expect(ignored).toBeGreaterThan(1);
    expect(await metricValue(a, "simd23_proposer_transactions_requeued_total")).toBeGreaterThan(0);
    expect(
      await metricValue(a, "simd23_proposer_user_blocks_missed_total", { proposer: "proposer-0" }),
    ).toBeGreaterThan(0);
  });

  it("drops with a reason an item whose blockhash expires before it can be recorded", async () => {
    const c = await start({
      timing: { blockhashValiditySlots: 3 },
      ledger: { ignoreBlock: (block) => block.items.length > 0 },
    });
    const a = await c.startProposer();
    await waitFor("scheduled", async () => (await proposerStatus(a.client)).scheduled);
    const t = await fresh(c, a);
    await submit(a.client, t.wire);
    await waitFor(
      "dropped",
      async () =>
        (await metricValue(a, "simd23_proposer_transactions_dropped_total", {
          reason: "blockhash_expired",
        })) === 1,
    );
    await waitFor("its status says dropped", async () => {
      const [status] = await new StatusIndex({ store: c.store }).get([t.id]);
      return status!.levels.at(-1)?.level === DROPPED;
    });
    const [status] = await new StatusIndex({ store: c.store }).get([t.id]);
    expect(status!.droppedReason).toMatch(/blockhash expired/);
    expect(await metricValue(a, "simd23_proposer_queue_depth_transactions")).toBe(0);
  });

  it("adopts the pending intake of a pool key nobody holds, proposes it, and releases the key", async () => {
    const c = await start({ proposerPool: 4 });
    // What a replica holding pool key 2 leaves behind when it is killed: unacknowledged INTAKE
    // messages and the marker, with its lease gone.
    const { blockhash } = await new Promise<{ blockhash: Uint8Array }>((resolve) => {
      const wait = () =>
        c.ledger.tipSlot > 0 ? resolve({ blockhash: c.ledger.tipBlockhash }) : setTimeout(wait, 20);
      wait();
    });
    const poolKey2 = proposerKeypair(c.genesis, c.clusterSeed, 2);
    const bodyOf = (t: { wire: tx.Transaction }) =>
      encodeItem({ item: { $case: "transaction" as const, value: t.wire } });
    const left = Array.from({ length: 12 }, () => c.transaction({ blockhash }));
    for (const t of left)
      await c.bus.publish(
        subjects.intake(2),
        sealIntakeItem(poolKey2, bodyOf(t)),
        intakePublishOptions(2, toHex(t.id), "left-behind"),
      );
    // Forgeries beside them: an item not in an envelope, one sealed by another pool key, one whose
    // envelope signature does not verify. Each is refused and counted, and never proposed.
    const forged = Array.from({ length: 3 }, () => c.transaction({ blockhash }));
    const wrongKey = sealIntakeItem(proposerKeypair(c.genesis, c.clusterSeed, 1), bodyOf(forged[1]!));
    const badSignature = sealIntakeItem(poolKey2, bodyOf(forged[2]!));
    badSignature[badSignature.length - 1]! ^= 1;
    for (const [i, data] of [bodyOf(forged[0]!), wrongKey, badSignature].entries())
      await c.bus.publish(subjects.intake(2), data, intakePublishOptions(2, toHex(forged[i]!.id), "forged"));
    await c.store.set(intakeMarkerKey(2), Date.now());

    const a = await c.startProposer();
    expect(a.role.poolIndex).toBe(0);
    await waitFor("pool key 2 adopted", () => a.role.adoptedPoolIndices.includes(2));
    await waitFor(
      "the adopted items recorded",
      () =>
        recorded(
          c,
          left.map((t) => t.id),
        ),
      20_000,
    );
    expect(await metricValue(a, "simd23_proposer_messages_refused_total", { stream: "intake" })).toBe(3);
    expect(
      await metricValue(a, "simd23_proposer_messages_refused_total", {
        stream: "intake",
        reason: "wrong_signer",
      }),
    ).toBe(1);
    const all = c.ledger.recordedTransactions();
    for (const t of forged) expect(all.has(toHex(t.id))).toBe(false);
    const proposerA = toHex(c.genesis.proposerPool[0]!.identity);
    for (const e of c.ledger.recorded) if (e.block.items.length > 0) expect(e.proposer).toBe(proposerA);
    await waitFor("pool key 2 released", () => a.role.adoptedPoolIndices.length === 0, 20_000);
    expect(await c.store.get(intakeMarkerKey(2))).toBeUndefined();
    const directory = new ProposerDirectory(c.store, c.genesis);
    expect((await directory.list()).map((entry) => entry.poolIndex)).toEqual([0]);
  });

  it("leaves the schedule on shutdown and hands what it holds to the others", async () => {
    const c = await start();
    const a = await c.startProposer();
    const b = await c.startProposer();
    await waitFor("both active", async () => (await proposerStatus(a.client)).activeProposers.length === 2);
    const sent = await Promise.all(Array.from({ length: 30 }, () => fresh(c, b)));
    await Promise.all(sent.map((t) => submit(b.client, t.wire)));
    const bIdentity = c.genesis.proposerPool[b.role.poolIndex!]!.identity;
    await c.stopProposer(b);
    expect(c.ledger.tipSchedule.isMember(bIdentity)).toBe(false);
    await waitFor("everything b accepted recorded", () =>
      recorded(
        c,
        sent.map((t) => t.id),
      ),
    );
    const directory = new ProposerDirectory(c.store, c.genesis);
    expect((await directory.list()).map((entry) => entry.poolIndex)).toEqual([a.role.poolIndex]);
    expect(await c.store.get(intakeMarkerKey(1))).toBeUndefined();
  });

  it("stops producing and refuses intake with HALTED after a verified halt", async () => {
    const c = await start();
    const a = await c.startProposer();
    const halt: control.Halt = {
      slot: 3,
      tally: undefined,
      evidence: [],
      reason: "test halt",
      haltedAtMs: BigInt(Date.now()),
    };
    await new SignedPublisher(c.bus, verifierKeypair(c.genesis, c.clusterSeed)).publish(
      EnvelopeKind.KIND_HALT,
      subjects.halt,
      control.Halt.encode(halt).finish(),
    );
    await waitFor("halted", async () => (await proposerStatus(a.client)).halted);
    const t = await fresh(c, a);
    const rejection = readRejection(
      await submit(a.client, t.wire).then(
        () => undefined,
        (e: unknown) => e,
      ),
    );
    expect(rejection?.rejectReason).toBe(tx.RejectReason.REJECT_REASON_HALTED);
    expect(a.service.health.notServingReasons).toContain("halted");
    const built = await metricValue(a, "simd23_proposer_user_blocks_built_total");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await metricValue(a, "simd23_proposer_user_blocks_built_total")).toBe(built);
  });

  it("FAULT withhold: builds but never publishes, so its items go back to the queue", async () => {
    const c = await start({ env: { SIMD23_FAULT_WITHHOLD_BLOCKS: "true" } });
    const a = await c.startProposer();
    // Without blocks it is never scheduled... unless it joined: membership needs no block.
    await waitFor("scheduled", async () => (await proposerStatus(a.client)).scheduled);
    const t = await fresh(c, a);
    await submit(a.client, t.wire);
    await waitFor(
      "requeued",
      async () => (await metricValue(a, "simd23_proposer_transactions_requeued_total")) >= 2,
    );
    expect(c.ledger.arrived.size).toBe(0);
    expect(await metricValue(a, "simd23_proposer_user_blocks_built_total")).toBe(0);
  });

  it("FAULT equivocate: two different blocks per UserBlockSlot, and the ledger records neither", async () => {
    const c = await start({ env: { SIMD23_FAULT_EQUIVOCATE: "true" } });
    const a = await c.startProposer();
    await waitFor("scheduled", async () => (await proposerStatus(a.client)).scheduled);
    await waitFor(
      "blocks missed",
      async () => (await metricValue(a, "simd23_proposer_user_blocks_missed_total")) >= 2,
    );
    expect(c.ledger.recorded).toEqual([]);
  });

  it("serves its UserBlocks for repair and the latest blockhash of its chain", async () => {
    const c = await start();
    const a = await c.startProposer();
    await waitFor("a block recorded", () => c.ledger.recorded.length > 0);
    const entry = c.ledger.recorded[0]!;
    const served = await userBlockOf(a.client, entry.block.blockHash);
    expect(served.userBlock?.header?.userBlockSlot).toBe(entry.userBlockSlot);
    expect((await userBlockOf(a.client, new Uint8Array(randomBytes(32)))).userBlock).toBeUndefined();
    const latest = await latestBlockhash(a.client);
    expect(latest.lastValidSlot).toBe(latest.slot + c.genesis.timing.blockhashValiditySlots);
    expect(latest.slot).toBeGreaterThan(0);
  });
});
