import { randomBytes } from "node:crypto";
import { type Bus, createMemoryBus, createMemoryBusServer, type MemoryBusServer } from "@simd23/bus";
import {
  buildTransaction,
  buildVote,
  createGenesisBank,
  createLedgerContext,
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  ExecutionMode,
  encodeSignedVote,
  executeSyncSlot,
  type Genesis,
  genesisHash,
  KEY_ROLES,
  type Keypair,
  type LedgerContext,
  recordingTickHeight,
  type SlotRecord,
  sha256,
  signVote,
  slotAt,
  slotOfUserBlockSlot,
  slotStartMs,
  toHex,
  transferInstruction,
  UserBlockBuilder,
  userBlockSlotEndMs,
  userBlockSlotStartMs,
  utf8,
  verifyEquivocationEvidence,
  type WellFormedUserBlock,
} from "@simd23/core";
import { control, type leader as leaderpb, ledger, tx } from "@simd23/proto";
import { LedgerFollower, SignedPublisher, sealIntakeItem, subjects } from "@simd23/runtime";
import {
  createLogger,
  createServiceMetrics,
  GrpcStatus,
  type HealthControl,
  readRejection,
  type ServiceMetrics,
} from "@simd23/service-kit";
import { createMemoryStore, type Store } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { type Clock, systemClock } from "./clock.js";
import { listEquivocationEvidence } from "./evidence.js";
import { type Leader, type ProducedSlot, startLeader } from "./leader.js";

const seed = new Uint8Array(32).fill(23);
const TICK_MS = 15;

/** 8 ticks of 15 ms per slot (4 per UserBlockSlot), 1 grace tick, windows of 2 slots; starts shortly. */
function fastGenesis(
  options: {
    mode?: ExecutionMode;
    validators?: number;
    timing?: Partial<Genesis["timing"]>;
    limits?: Partial<Genesis["limits"]>;
  } = {},
): Genesis {
  const validators = options.validators ?? 2;
  return createTestnetGenesis({
    clusterName: `leader-${randomBytes(3).toString("hex")}`,
    clusterSeed: seed,
    startTimeMs: BigInt(Date.now() + 300),
    validators,
    leaders: validators,
    proposerPool: 3,
    mode: options.mode ?? ExecutionMode.EXECUTION_MODE_ASYNC,
    timing: {
      slotDurationMs: 8 * TICK_MS,
      ticksPerSlot: 8,
      hashesPerTick: 400,
      proposerHashesPerTick: 50,
      graceTicks: 1,
      slotsPerLeaderWindow: 2,
      slotsPerEpoch: 64,
      membershipDelaySlots: 2,
      proposerEvictionUserBlockSlots: 64,
      ...options.timing,
    },
    ...(options.limits === undefined ? {} : { limits: options.limits }),
  });
}

class FakeHealth implements HealthControl {
  ready = false;
  readonly halts: string[] = [];
  private readonly reasons = new Set<string>();
  markReady(): void {
    this.ready = true;
  }
  setNotServing(reason: string): void {
    this.reasons.add(reason);
  }
  clearNotServing(reason: string): void {
    this.reasons.delete(reason);
  }
  halt(detail: string): void {
    this.halts.push(detail);
    this.reasons.add("halted");
  }
  get serving(): boolean {
    return this.ready && this.reasons.size === 0;
  }
  get notServingReasons(): readonly string[] {
    return [...this.reasons];
  }
}

interface RunningLeader {
  readonly ordinal: number;
  readonly leader: Leader;
  readonly bus: Bus;
  readonly health: FakeHealth;
  readonly metrics: ServiceMetrics;
  readonly produced: ProducedSlot[];
}

/** A cluster on one in-process bus server: leaders, a ledger follower, and the test acting as proposers and validators. */
class Cluster {
  readonly context: LedgerContext;
  readonly server: MemoryBusServer = createMemoryBusServer();
  readonly namespace = `leader-${randomBytes(4).toString("hex")}`;
  readonly bus: Bus;
  readonly store: Store;
  readonly follower: LedgerFollower;
  readonly records = new Map<number, SlotRecord>();
  readonly leaders: RunningLeader[] = [];
  private readonly proposers: Keypair[];
  private readonly validators: Keypair[];

  constructor(readonly genesis: Genesis) {
    this.context = createLedgerContext(genesis);
    this.bus = createMemoryBus({ namespace: this.namespace, server: this.server });
    this.store = createMemoryStore({ namespace: this.namespace });
    this.follower = new LedgerFollower({ bus: this.bus, context: this.context });
    this.follower.onSlot(({ record }) => this.records.set(record.slot, record));
    this.proposers = genesis.proposerPool.map((_, i) => deriveKeypair(seed, KEY_ROLES.proposer, i));
    this.validators = genesis.validators.map((_, i) => deriveKeypair(seed, KEY_ROLES.validator, i));
  }

  async start(options: { readonly parentWaitMs?: number; readonly clock?: Clock } = {}): Promise<void> {
    await this.follower.start();
    for (const ordinal of this.genesis.validators.keys()) {
      const bus = createMemoryBus({ namespace: this.namespace, server: this.server });
      const health = new FakeHealth();
      const metrics = createServiceMetrics("leader", { defaultMetrics: false });
      const leader = await startLeader({
        genesis: this.genesis,
        keypair: this.validators[ordinal]!,
        bus,
        store: this.store,
        logger: createLogger({ role: "leader", replica: ordinal, level: "silent" }),
        metrics,
        health,
        settings: { parentWaitMs: options.parentWaitMs ?? 40 },
        ...(options.clock === undefined ? {} : { clock: options.clock }),
      });
      const produced: ProducedSlot[] = [];
      leader.onSlotProduced((slot) => produced.push(slot));
      this.leaders.push({ ordinal, leader, bus, health, metrics, produced });
    }
  }

  async stop(): Promise<void> {
    for (const { leader, bus } of this.leaders) {
      await leader.hooks.stopConsuming();
      await leader.hooks.drain();
      await bus.close();
    }
    await this.follower.stop();
    await this.bus.close();
    await this.store.close();
  }

  leaderOf(slot: number): RunningLeader {
    const identity = toHex(this.context.leaders.leaderOf(slot));
    return this.leaders.find((l) => toHex(l.leader.identity) === identity)!;
  }

  proposer(i: number): Keypair {
    return this.proposers[i]!;
  }

  validator(i: number): Keypair {
    return this.validators[i]!;
  }

  async join(proposer: number, requestedAtSlot: number): Promise<void> {
    const keypair = this.proposer(proposer);
    const body = ledger.MembershipRequest.encode({
      proposer: keypair.publicKey,
      action: ledger.MembershipAction.MEMBERSHIP_ACTION_JOIN,
      requestedAtSlot,
    }).finish();
    await new SignedPublisher(this.bus, keypair).publish(
      EnvelopeKind.KIND_MEMBERSHIP_REQUEST,
      subjects.membership,
      body,
    );
  }

  /** A well-formed UserBlock of one transfer (distinct per nonce). */
  userBlock(proposer: number, userBlockSlot: number, nonce: number, activeProposers: number) {
    const payer = deriveKeypair(seed, "user", proposer);
    const transaction = buildTransaction(
      {
        recentBlockhash: sha256(utf8("recent")),
        computeUnitLimit: 1_000,
        computeUnitPrice: BigInt(nonce),
        instructions: [transferInstruction(0, this.validator(0).publicKey, BigInt(nonce + 1))],
      },
      [payer],
      this.genesis.limits,
    );
    const builder = new UserBlockBuilder({
      genesis: this.genesis,
      keypair: this.proposer(proposer),
      userBlockSlot,
      activeProposerCount: activeProposers,
    });
    const added = builder.addEntry(1 + nonce, [{ item: { $case: "transaction", value: transaction.wire } }]);
    if (!added.ok) throw new Error(added.detail);
    return builder.finish();
  }

  /** Publishes a block as its proposer does: sealed by it, under its own UserBlockSlot's subject. */
  async publishUserBlock(proposer: number, userBlockSlot: number, nonce: number, activeProposers: number) {
    const block = this.userBlock(proposer, userBlockSlot, nonce, activeProposers);
    await this.publishBlock(block, { sealer: proposer });
    return block;
  }

  async publishBlock(
    block: WellFormedUserBlock,
    options: { readonly sealer: number; readonly asUserBlockSlot?: number },
  ): Promise<void> {
    await new SignedPublisher(this.bus, this.proposer(options.sealer)).publish(
      EnvelopeKind.KIND_USER_BLOCK,
      subjects.userBlock(options.asUserBlockSlot ?? block.userBlockSlot, block.proposer, block.blockHash),
      block.bytes,
    );
  }

  async vote(validator: number, slot: number): Promise<void> {
    const keypair = this.validator(validator);
    const state = this.follower.state(slot)!;
    const signed = signVote(
      keypair,
      buildVote({
        validator: keypair.publicKey,
        slot,
        slotHash: state.lastHash,
        tower: { lockouts: [{ slot, confirmationCount: 1 }], root: null },
        bankHash: null,
        timestampMs: Date.now(),
      }),
    );
    await new SignedPublisher(this.bus, keypair).publish(
      EnvelopeKind.KIND_VOTE,
      subjects.vote(keypair.publicKey),
      encodeSignedVote(signed),
    );
  }

  async halt(slot: number): Promise<void> {
    const verifier = deriveKeypair(seed, KEY_ROLES.verifier, 0);
    const body = control.Halt.encode({
      slot,
      tally: { matched: 0n, mismatched: 2n, missing: 0n, total: 2n },
      evidence: [],
      reason: "test halt",
      haltedAtMs: BigInt(Date.now()),
    }).finish();
    await new SignedPublisher(this.bus, verifier).publish(EnvelopeKind.KIND_HALT, subjects.halt, body);
  }
}

const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now())));

/** Tick height before each entry of a produced slot, from the slot's own messages. */
function tickHeights(genesis: Genesis, messages: readonly ledger.LedgerMessage[]): Map<number, number> {
  const start = messages.find((m) => m.kind?.$case === "start")!.kind!.value as ledger.SlotStart;
  let height = (start.parentSlot + 1) * genesis.timing.ticksPerSlot;
  const heights = new Map<number, number>();
  for (const message of messages) {
    if (message.kind?.$case !== "entry") continue;
    heights.set(message.kind.value.index, height);
    if (message.kind.value.entry?.payload?.$case === "tick") height++;
  }
  return heights;
}

async function metricValue(metrics: ServiceMetrics, name: string, labels: Record<string, string> = {}) {
  const metric = await metrics.registry.getSingleMetric(name)?.get();
  const match = metric?.values.find((v) =>
    Object.entries(labels).every(([k, value]) => v.labels[k] === value),
  );
  return match?.value ?? 0;
}

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
});

describe("leader on the in-process bus", () => {
  it("records joins, votes once per chain, and each UserBlock as soon as the PoH passes its recording tick height", async () => {
    const genesis = fastGenesis();
    cluster = new Cluster(genesis);
    await cluster.start();
    const { timing } = genesis;
    expect(cluster.leaders.every((l) => l.health.ready)).toBe(true);

    await sleepUntil(slotStartMs(timing, 1) + 5);
    for (const proposer of [0, 1, 2]) await cluster.join(proposer, slotAt(timing, Date.now()));
    await expect
      .poll(() => [...cluster!.records.values()].flatMap((r) => r.membershipChanges).length, {
        timeout: 5_000,
      })
      .toBe(3);
    const effective = Math.max(
      ...[...cluster.records.values()].flatMap((r) => r.membershipChanges.map((c) => c.change.effectiveSlot)),
    );

    // Four UserBlockSlots from the first whole one after the joins take effect.
    const first = Math.max(2 * effective, 2 * slotAt(timing, Date.now()) + 2);
    const [u0, u1, u2, u3] = [first, first + 1, first + 2, first + 3];
    const published = new Map<number, number[]>();
    for (const u of [u0, u1, u2, u3]) {
      await sleepUntil(userBlockSlotStartMs(timing, u) + TICK_MS);
      const order = u === u2 ? [0, 2] : u === u1 ? [1, 0] : [1, 0, 2];
      for (const p of order) await cluster.publishUserBlock(p, u, u, 3);
      if (u === u1) {
        // Proposer 2 signs two different blocks for u1: equivocation.
        await cluster.publishUserBlock(2, u1, 1, 3);
        await cluster.publishUserBlock(2, u1, 2, 3);
      }
      published.set(u, order);
    }
    // Proposer 1's block for u2 comes after the PoH passed u2's recording tick height.
    await sleepUntil(userBlockSlotEndMs(timing, u2) + (timing.graceTicks + 2) * TICK_MS);
    await cluster.publishUserBlock(1, u2, u2, 3);

    const voted = [...cluster.records.keys()].at(-1)!;
    await cluster.vote(0, voted);
    await cluster.vote(1, voted);
    await cluster.vote(1, voted);

    const lastSlot = slotOfUserBlockSlot(u3) + 1;
    await expect.poll(() => cluster!.follower.newestSlot, { timeout: 5_000 }).toBeGreaterThan(lastSlot + 1);

    for (const u of [u0, u1, u2, u3]) {
      const slot = Math.ceil(u / 2);
      const record = cluster.records.get(slot);
      expect(record, `slot ${slot} recording u ${u}`).toBeDefined();
      const recorded = record!.userBlockSlots.find((r) => r.userBlockSlot === u)!;
      const proposers = recorded.entries.map((e) => toHex(e.proposer));
      // Every well-formed, timely block, in arrival order; none of the equivocator's at u1.
      expect(proposers).toEqual(published.get(u)!.map((p) => toHex(cluster!.proposer(p).publicKey)));
      // Each right after the tick that reached recordingTickHeight(u).
      const producer = cluster.leaderOf(slot);
      const heights = tickHeights(genesis, producer.leader.slotMessages(slot)!);
      for (const entry of recorded.entries) {
        expect(heights.get(entry.entryIndex)).toBe(recordingTickHeight(timing, u));
      }
    }

    const recorder2 = cluster.leaderOf(Math.ceil(u2 / 2));
    expect(
      await metricValue(recorder2.metrics, "simd23_leader_user_blocks_refused_total", { reason: "late" }),
    ).toBe(1);
    const recorder1 = cluster.leaderOf(Math.ceil(u1 / 2));
    expect(await metricValue(recorder1.metrics, "simd23_leader_equivocations_total")).toBe(1);
    expect(
      await metricValue(recorder1.metrics, "simd23_leader_user_blocks_refused_total", {
        reason: "equivocation",
      }),
    ).toBe(1);
    const evidence = await listEquivocationEvidence(cluster.store);
    expect(evidence.map((e) => [toHex(e.proposer), e.userBlockSlot])).toEqual([
      [toHex(cluster.proposer(2).publicKey), u1],
    ]);
    const [found] = evidence;
    expect(
      verifyEquivocationEvidence({
        proposer: found!.proposer,
        userBlockSlot: found!.userBlockSlot,
        first: { header: found!.first!.header!, signature: found!.first!.signature },
        second: { header: found!.second!.header!, signature: found!.second!.signature },
      }),
    ).toBe(true);
    const onControl = await cluster.bus.getLast("CONTROL", subjects.equivocation);
    expect(onControl).toBeDefined();

    // Each validator's vote on `voted` is in the ledger once.
    const newest = cluster.follower.newestSlot;
    const votes = [newest, ...cluster.follower.ancestors(newest)].flatMap((slot) =>
      (cluster!.records.get(slot)?.votes ?? []).flatMap((e) =>
        e.votes.map((v) => [v.validatorIndex, v.vote.slot]),
      ),
    );
    expect(votes.filter(([, slot]) => slot === voted).sort()).toEqual([
      [0, voted],
      [1, voted],
    ]);

    // GetSlot gives back exactly the produced slot; the status reflects it.
    const producer = cluster.leaderOf(lastSlot);
    const messages = producer.leader.slotMessages(lastSlot)!;
    expect(messages.length).toBe(cluster.records.get(lastSlot)!.entryCount + 2);
    const status = producer.leader.status();
    expect(status.lastProducedSlot).toBeGreaterThanOrEqual(lastSlot);
    expect(status.hashesPerSecond).toBeGreaterThan(0n);
    expect(status.halted).toBe(false);

    // The same over the gRPC handlers; a slot another replica produced is NOT_FOUND.
    const getSlot = (slot: number) =>
      new Promise<{ error: unknown; value: leaderpb.GetSlotResponse | undefined }>((resolve) =>
        producer.leader.implementation.getSlot({ request: { slot } } as never, (error, value) =>
          resolve({ error, value: value ?? undefined }),
        ),
      );
    expect((await getSlot(lastSlot)).value?.messages).toEqual(messages);
    const notMine = [...cluster.records.keys()].find((slot) => cluster!.leaderOf(slot) !== producer)!;
    expect(readRejection((await getSlot(notMine)).error)).toMatchObject({
      code: GrpcStatus.NOT_FOUND,
      reason: "SLOT_NOT_FOUND",
    });
  });

  it("carries the ledger on when the active leader vanishes mid-slot: the next one ticks through the gap", async () => {
    const genesis = fastGenesis();
    cluster = new Cluster(genesis);
    await cluster.start();
    const { timing } = genesis;
    const leaders = cluster.context.leaders;
    let slot = slotAt(timing, Date.now()) + 2;
    while (toHex(leaders.leaderOf(slot)) === toHex(leaders.leaderOf(slot + 1))) slot++;
    const vanishing = cluster.leaderOf(slot);
    const next = cluster.leaderOf(slot + 1);

    await sleepUntil(slotStartMs(timing, slot) + timing.slotDurationMs / 2);
    // From the cluster's point of view the process is gone: nothing it sends arrives any more.
    await vanishing.bus.close();

    await expect.poll(() => cluster!.records.get(slot + 1), { timeout: 3_000 }).toBeDefined();
    const carried = cluster.records.get(slot + 1)!;
    expect(cluster.records.has(slot)).toBe(false);
    expect(carried.parentSlot).toBeLessThan(slot);
    expect(carried.next.tickHeight).toBe((slot + 2) * timing.ticksPerSlot);
    const report = next.produced.find((p) => p.slot === slot + 1)!;
    // It waited for the slot in progress, or (when nothing of it had arrived yet) did not wait.
    expect(["previous-timed-out", "previous-silent"]).toContain(report.parentReason);
    expect(report.skippedSlots).toBe(slot - carried.parentSlot);
  });

  it("stops producing at once on a verified halt, leaving the slot in progress unfinished", async () => {
    const genesis = fastGenesis();
    cluster = new Cluster(genesis);
    await cluster.start();
    const { timing } = genesis;
    const slot = slotAt(timing, Date.now()) + 2;
    await sleepUntil(slotStartMs(timing, slot) + timing.slotDurationMs / 2);
    await cluster.halt(slot - 1);
    await expect.poll(() => cluster!.leaders.every((l) => l.health.halts.length === 1)).toBe(true);
    const producer = cluster.leaderOf(slot);
    expect(producer.leader.status().halted).toBe(true);
    await sleepUntil(slotStartMs(timing, slot + 3));
    expect(cluster.follower.newestSlot).toBeLessThan(slot);
    const partial = producer.leader.slotMessages(slot)!;
    expect(partial.some((m) => m.kind?.$case === "end")).toBe(false);
    expect(partial.length).toBeGreaterThan(1);
    expect(cluster.leaders.every((l) => l.leader.slotMessages(slot + 1) === undefined)).toBe(true);
    expect(cluster.leaders.every((l) => l.health.halts[0]!.includes("test halt"))).toBe(true);
  });

  it("produces its slot though a message it did not seal was filed under that slot on LEDGER before it started", async () => {
    const genesis = fastGenesis({ validators: 1 });
    cluster = new Cluster(genesis);
    const { timing } = genesis;
    await sleepUntil(slotStartMs(timing, 3) + 5);
    const slot = slotAt(timing, Date.now()) + 1;
    await cluster.bus.publish(subjects.ledgerSlot(slot), utf8("forged: not an earlier run's message"));
    await cluster.start();
    await expect.poll(() => cluster!.records.get(slot), { timeout: 5_000 }).toBeDefined();
  });

  it("refuses malformed, misfiled, unscheduled and early blocks and stale requests, each with its reason", async () => {
    // One leader: it records every UserBlockSlot. Requests are fresh for 2 slots.
    const genesis = fastGenesis({ validators: 1, timing: { membershipRequestValiditySlots: 2 } });
    cluster = new Cluster(genesis);
    await cluster.start();
    const { timing } = genesis;
    await sleepUntil(slotStartMs(timing, 4) + 5);
    const now = slotAt(timing, Date.now());
    await cluster.join(0, now);
    await cluster.join(1, now + 2);
    await cluster.join(2, now - 3);
    const changes = () =>
      [...cluster!.records.values()].flatMap((r) => r.membershipChanges.map((c) => c.change));
    await expect.poll(() => changes().length, { timeout: 5_000 }).toBe(2);
    // The request from the future waits for its slot; the stale one is never recorded.
    const [first, second] = changes();
    expect(toHex(first!.proposer)).toBe(toHex(cluster.proposer(0).publicKey));
    expect(toHex(second!.proposer)).toBe(toHex(cluster.proposer(1).publicKey));
    expect(second!.recordedAtSlot).toBeGreaterThanOrEqual(now + 2);

    const u = Math.max(2 * second!.effectiveSlot, 2 * slotAt(timing, Date.now()) + 2);
    await sleepUntil(userBlockSlotStartMs(timing, u) + TICK_MS);
    await cluster.publishUserBlock(0, u, 0, 2);
    await cluster.bus.publish(
      subjects.userBlock(u, cluster.proposer(1).publicKey, new Uint8Array(32)),
      utf8("x"),
    );
    // Proposer 1's block sealed by proposer 0; proposer 1's block filed under the next UserBlockSlot.
    await cluster.publishBlock(cluster.userBlock(1, u, 1, 2), { sealer: 0 });
    await cluster.publishBlock(cluster.userBlock(1, u, 2, 2), { sealer: 1, asUserBlockSlot: u + 1 });
    await cluster.publishUserBlock(2, u, 3, 2);
    await cluster.publishUserBlock(1, u + 4, 4, 2);

    await expect.poll(() => cluster!.records.get(Math.ceil(u / 2)), { timeout: 3_000 }).toBeDefined();
    const recorded = cluster.records
      .get(Math.ceil(u / 2))!
      .userBlockSlots.find((r) => r.userBlockSlot === u)!;
    expect(recorded.entries.map((e) => toHex(e.proposer))).toEqual([toHex(cluster.proposer(0).publicKey)]);
    const { metrics } = cluster.leaders[0]!;
    const refused = async (reason: string) =>
      metricValue(metrics, "simd23_leader_user_blocks_refused_total", { reason });
    expect({
      malformed: await refused("malformed"),
      bad_signature: await refused("bad_signature"),
      wrong_slot: await refused("wrong_slot"),
      unscheduled: await refused("unscheduled"),
      early: await refused("early"),
      late: await refused("late"),
    }).toEqual({ malformed: 1, bad_signature: 1, wrong_slot: 1, unscheduled: 1, early: 1, late: 0 });
    expect(await metricValue(metrics, "simd23_leader_user_blocks_recorded_total")).toBe(1);
  });

  it("keeps a block that is early only because its own PoH is behind, and records it once the PoH catches up", async () => {
    const genesis = fastGenesis({ validators: 1 });
    const { timing } = genesis;
    // A second-half UserBlockSlot a few slots in: its start is a tick inside a slot.
    const u = 2 * 6 + 1;
    const stallFrom = userBlockSlotStartMs(timing, u) - TICK_MS / 2;
    const stallUntil = userBlockSlotStartMs(timing, u) + 3 * TICK_MS;
    // The leader's timers that would fire in [stallFrom, stallUntil) fire at stallUntil: a stalled PoH.
    const real = systemClock();
    const stalling: Clock = {
      now: () => real.now(),
      sleep: (ms, signal) => {
        const wake = real.now() + ms;
        return real.sleep((wake >= stallFrom && wake < stallUntil ? stallUntil : wake) - real.now(), signal);
      },
    };
    cluster = new Cluster(genesis);
    await cluster.start({ clock: stalling });
    await sleepUntil(slotStartMs(timing, 1) + 5);
    await cluster.join(0, 1);
    // The join takes effect at slot 3 at the latest; u is in slot 6.
    await sleepUntil(userBlockSlotStartMs(timing, u) + TICK_MS);
    await cluster.publishUserBlock(0, u, 0, 1);
    const recordedIn = Math.ceil(u / 2);
    await expect.poll(() => cluster!.records.get(recordedIn), { timeout: 3_000 }).toBeDefined();
    const recorded = cluster.records.get(recordedIn)!.userBlockSlots.find((r) => r.userBlockSlot === u)!;
    expect(recorded.entries.map((e) => toHex(e.proposer))).toEqual([toHex(cluster.proposer(0).publicKey)]);
    const { metrics, produced } = cluster.leaders[0]!;
    expect(await metricValue(metrics, "simd23_leader_user_blocks_refused_total", { reason: "early" })).toBe(
      0,
    );
    // The stall is real: the slot holding it ticked late.
    expect(produced.find((p) => p.slot === slotOfUserBlockSlot(u))!.maxTickDriftMs).toBeGreaterThan(TICK_MS);
  });

  it("sync mode: executes fed items at its ticks, best fee rate first within the slot's compute units, and ends each slot with its BankHash", async () => {
    // Each transfer claims 600,000 compute units and a slot holds 1,500,000: two per slot.
    const genesis = fastGenesis({
      mode: ExecutionMode.EXECUTION_MODE_SYNC,
      limits: { maxSlotComputeUnits: 1_500_000n },
    });
    cluster = new Cluster(genesis);
    await cluster.start();
    const faucet = deriveKeypair(seed, KEY_ROLES.faucet, 0);
    const receiver = deriveKeypair(seed, "user", 7).publicKey;
    const transfer = (payer: Keypair, lamports: bigint, price: bigint) =>
      buildTransaction(
        {
          recentBlockhash: genesisHash(genesis),
          computeUnitLimit: 600_000,
          computeUnitPrice: price,
          instructions: [transferInstruction(0, receiver, lamports)],
        },
        [payer],
        genesis.limits,
      );
    const encoded = (transaction: { wire: tx.Transaction }) =>
      tx.TransactionItem.encode({ item: { $case: "transaction", value: transaction.wire } }).finish();
    // As a proposer stores an accepted item: sealed by the pool key whose subject stores it.
    const feed = async (poolIndex: number, transaction: { wire: tx.Transaction }, sealer = poolIndex) => {
      await cluster!.bus.publish(
        subjects.intake(poolIndex),
        sealIntakeItem(cluster!.proposer(sealer), encoded(transaction)),
      );
    };
    const fed = [1n, 5n, 3n, 4n, 2n].map((price) => transfer(faucet, price, price));
    const unfunded = transfer(deriveKeypair(seed, "user", 8), 1n, 100n);
    const forged = transfer(faucet, 99n, 100n);
    const unsealed = transfer(faucet, 98n, 100n);
    const misrouted = transfer(faucet, 97n, 100n);
    await sleepUntil(slotStartMs(genesis.timing, 2));
    // Fed together (the last one on another proposer's subject): they wait for a leader's tick.
    for (const [i, transaction] of fed.entries()) await feed(i === 4 ? 1 : 0, transaction);
    await feed(0, unfunded);
    await feed(0, { wire: { ...forged.wire, signatures: [new Uint8Array(64).fill(1)] } });
    // Forged INTAKE messages: an item in no envelope, and one sealed by another pool key than its subject's.
    await cluster.bus.publish(subjects.intake(0), encoded(unsealed));
    await feed(0, misrouted, 1);

    const id = (t: { id: Uint8Array }) => toHex(t.id);
    const recordedSlots = () =>
      [...cluster!.records.values()]
        .filter((r) => r.transactionEntries.length > 0)
        .sort((a, b) => a.slot - b.slot);
    await expect
      .poll(() => recordedSlots().flatMap((r) => r.transactionEntries.flatMap((e) => e.items)).length, {
        timeout: 5_000,
      })
      .toBe(5);
    const slots = recordedSlots();
    const itemIds = (r: SlotRecord) =>
      r.transactionEntries.flatMap((e) =>
        e.items.map((i) => toHex((i.item!.value as tx.Transaction).signatures[0]!)),
      );
    // Two per slot (the compute-unit limit), the highest fee rates first: 5, 4 | 3, 2 | 1.
    expect(slots.map(itemIds)).toEqual([
      [id(fed[1]!), id(fed[3]!)],
      [id(fed[2]!), id(fed[4]!)],
      [id(fed[0]!)],
    ]);
    // Neither the unfunded nor the forged transfer paid a fee: neither is recorded.
    const everything = slots.flatMap(itemIds);
    expect(everything).not.toContain(id(unfunded));
    expect(everything).not.toContain(id(forged));
    expect(everything).not.toContain(id(unsealed));
    expect(everything).not.toContain(id(misrouted));
    for (const { metrics } of cluster.leaders) {
      for (const reason of ["malformed", "wrong_signer", "bad_signature"])
        expect(
          await metricValue(metrics, "simd23_leader_messages_refused_total", { stream: "intake", reason }),
        ).toBe(1);
    }

    // Each SlotEnd.bankHash is the BankHash of the chain the core computes from the ledger alone, and
    // the chain passes from one leader to the other: each executed the other's slots to build on them.
    const chainToNewest = (): SlotRecord[] => {
      const chain: SlotRecord[] = [];
      for (
        let slot = Math.max(...cluster!.records.keys());
        slot > 0;
        slot = cluster!.records.get(slot)!.parentSlot
      )
        chain.unshift(cluster!.records.get(slot)!);
      return chain;
    };
    await expect
      .poll(() => new Set(chainToNewest().map((r) => toHex(r.leader))).size, { timeout: 5_000 })
      .toBe(2);
    const chain = chainToNewest();
    expect(chain.filter((r) => r.transactionEntries.length > 0)).toHaveLength(3);
    let bank = createGenesisBank(genesis);
    for (const record of chain) {
      bank = executeSyncSlot(bank, {
        slot: record.slot,
        lastPohHash: record.lastHash,
        transactionEntries: record.transactionEntries,
      }).bank;
      expect(toHex(record.bankHash!)).toBe(toHex(bank.bankHash));
    }
    expect(bank.balance(receiver)).toBe(15n);
    const produced = cluster.leaders.flatMap((l) => l.produced);
    expect(produced.reduce((n, p) => n + p.transactionItems, 0)).toBe(5);
    const { metrics } = cluster.leaderOf(slots[0]!.slot);
    expect(
      await metricValue(metrics, "simd23_leader_entries_total", { type: "transactions" }),
    ).toBeGreaterThan(0);
  });
});
