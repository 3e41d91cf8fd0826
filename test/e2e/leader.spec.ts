import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bus, connectNatsBus } from "@simd23/bus";
import {
  buildTransaction,
  buildVote,
  bytesEqual,
  createLedgerContext,
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  encodeSignedVote,
  type Genesis,
  genesisToJson,
  KEY_ROLES,
  type Keypair,
  type LedgerContext,
  openEnvelope,
  recordingTickHeight,
  type SlotRecord,
  sha256,
  signVote,
  slotAt,
  slotStartMs,
  toBase58,
  toHex,
  transferInstruction,
  UserBlockBuilder,
  userBlockSlotEndMs,
  userBlockSlotStartMs,
  utf8,
  verifyEquivocationEvidence,
  type WellFormedUserBlock,
} from "@simd23/core";
import { control, ledger } from "@simd23/proto";
import { LedgerFollower, SignedPublisher, subjects } from "@simd23/runtime";
import { connectRedisStore, protoCodec, type Store, valueKey } from "@simd23/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RoleProcess } from "../../packages/client/src/devnet/processes.js";

// The leader role as processes (services/leader/dist/main.js) on the real NATS and Redis: two
// leader replicas of a fast genesis; the test plays the proposers and validators.

const NATS_URL = process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222";
const REDIS_URL = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";
const SLOT_MS = 200;
const TICKS_PER_SLOT = 16;
const TICK_MS = SLOT_MS / TICKS_PER_SLOT;

const seed = randomBytes(32);
const namespace = `e2e-leader-${randomBytes(4).toString("hex")}`;
const home = mkdtempSync(join(tmpdir(), "simd23-e2e-leader-"));

/** The services brief's fast test genesis; eviction is off the path (64 misses) so only what the test does counts. */
const genesis: Genesis = createTestnetGenesis({
  clusterName: namespace,
  clusterSeed: seed,
  startTimeMs: BigInt(Date.now() + 6_000),
  validators: 2,
  leaders: 2,
  proposerPool: 3,
  timing: {
    slotDurationMs: SLOT_MS,
    ticksPerSlot: TICKS_PER_SLOT,
    hashesPerTick: 2_000,
    proposerHashesPerTick: 200,
    graceTicks: 2,
    slotsPerLeaderWindow: 2,
    membershipDelaySlots: 2,
    proposerEvictionUserBlockSlots: 64,
    maxLockoutHistory: 8,
  },
});
const { timing } = genesis;
const context: LedgerContext = createLedgerContext(genesis);
const proposers: Keypair[] = genesis.proposerPool.map((_, i) => deriveKeypair(seed, KEY_ROLES.proposer, i));
const validators: Keypair[] = genesis.validators.map((_, i) => deriveKeypair(seed, KEY_ROLES.validator, i));

let bus: Bus;
let store: Store;
let follower: LedgerFollower;
const leaders: RoleProcess[] = [];
const records = new Map<number, { readonly record: SlotRecord; readonly atMs: number }>();
/** Each ledger entry and when it reached the server (JetStream's timestamp), by `slot/index`. */
const entries = new Map<string, { readonly entry: ledger.SlotEntry; readonly atMs: number }>();
let killed: RoleProcess | undefined;

const sleepUntil = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms - Date.now())));

/** The replica producing blocks for the validator that leads `slot`. */
function leaderProcessOf(slot: number): RoleProcess {
  const identity = context.leaders.leaderOf(slot);
  return leaders[validators.findIndex((v) => bytesEqual(v.publicKey, identity))]!;
}

async function requestJoin(proposer: number, requestedAtSlot: number): Promise<void> {
  const keypair = proposers[proposer]!;
  const body = ledger.MembershipRequest.encode({
    proposer: keypair.publicKey,
    action: ledger.MembershipAction.MEMBERSHIP_ACTION_JOIN,
    requestedAtSlot,
  }).finish();
  await new SignedPublisher(bus, keypair).publish(
    EnvelopeKind.KIND_MEMBERSHIP_REQUEST,
    subjects.membership,
    body,
  );
}

/** A well-formed UserBlock of one transfer, distinct per nonce. */
function userBlock(proposer: number, userBlockSlot: number, nonce: number): WellFormedUserBlock {
  const keypair = proposers[proposer]!;
  const transfer = buildTransaction(
    {
      recentBlockhash: sha256(utf8("e2e blockhash")),
      computeUnitLimit: 1_000,
      computeUnitPrice: BigInt(nonce),
      instructions: [transferInstruction(0, validators[0]!.publicKey, BigInt(nonce + 1))],
    },
    [deriveKeypair(seed, "user", proposer)],
    genesis.limits,
  );
  const builder = new UserBlockBuilder({ genesis, keypair, userBlockSlot, activeProposerCount: 3 });
  const added = builder.addEntry(1 + nonce, [{ item: { $case: "transaction", value: transfer.wire } }]);
  if (!added.ok) throw new Error(added.detail);
  return builder.finish();
}

/** Publishes blocks as their proposers do; publishes from one connection arrive in call order. */
async function publishUserBlocks(blocks: readonly WellFormedUserBlock[]): Promise<void> {
  await Promise.all(
    blocks.map((block) =>
      new SignedPublisher(bus, proposers.find((p) => bytesEqual(p.publicKey, block.proposer))!).publish(
        EnvelopeKind.KIND_USER_BLOCK,
        subjects.userBlock(block.userBlockSlot, block.proposer, block.blockHash),
        block.bytes,
      ),
    ),
  );
}

async function vote(validator: number, slot: number): Promise<void> {
  const keypair = validators[validator]!;
  const signed = signVote(
    keypair,
    buildVote({
      validator: keypair.publicKey,
      slot,
      slotHash: records.get(slot)!.record.lastHash,
      tower: { lockouts: [{ slot, confirmationCount: 1 }], root: null },
      bankHash: null,
      timestampMs: Date.now(),
    }),
  );
  await new SignedPublisher(bus, keypair).publish(
    EnvelopeKind.KIND_VOTE,
    subjects.vote(keypair.publicKey),
    encodeSignedVote(signed),
  );
}

/** Prometheus text → samples of one metric family (name, labels, value). */
async function scrape(replica: RoleProcess, name: string): Promise<{ labels: string; value: number }[]> {
  const text = await (await fetch(replica.metricsUrl)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith(name))
    .map((line) => {
      const match = /^(\S+?)(\{[^}]*\})?\s+(\S+)$/.exec(line)!;
      return { labels: `${match[1]}${match[2] ?? ""}`, value: Number(match[3]) };
    });
}

async function sample(replica: RoleProcess, series: string): Promise<number> {
  const name = series.split("{")[0]!;
  return (await scrape(replica, name)).find((s) => s.labels === series)?.value ?? 0;
}

/** The tick height before each entry of a replayed slot, with whether the entry is a tick. */
function ticksOf(record: SlotRecord): { readonly heightBefore: number; readonly isTick: boolean }[] {
  let height = (record.parentSlot + 1) * TICKS_PER_SLOT;
  return Array.from({ length: record.entryCount }, (_, index) => {
    const isTick = entries.get(`${record.slot}/${index}`)!.entry.entry!.payload!.$case === "tick";
    const heightBefore = height;
    if (isTick) height++;
    return { heightBefore, isTick };
  });
}

const quantile = (sorted: readonly number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

beforeAll(async () => {
  const genesisPath = join(home, "genesis.json");
  writeFileSync(genesisPath, genesisToJson(genesis));
  bus = await connectNatsBus({ servers: NATS_URL, namespace, name: "e2e-leader" });
  store = await connectRedisStore({ url: REDIS_URL, namespace, clientName: "e2e-leader" });
  follower = new LedgerFollower({ bus, context });
  follower.onSlot(({ record }) => records.set(record.slot, { record, atMs: Date.now() }));
  follower.onEntry(({ entry, time }) =>
    entries.set(`${entry.slot}/${entry.index}`, { entry, atMs: time.getTime() }),
  );
  await follower.start();
  const env = {
    SIMD23_GENESIS: genesisPath,
    SIMD23_CLUSTER_SEED: seed.toString("hex"),
    SIMD23_NAMESPACE: namespace,
    SIMD23_NATS_URL: NATS_URL,
    SIMD23_REDIS_URL: REDIS_URL,
    SIMD23_LOG_LEVEL: "info",
  };
  for (const replica of [0, 1]) {
    leaders.push(await RoleProcess.start({ role: "leader", replica, env, logDir: home }));
  }
  await Promise.all(leaders.map((leader) => leader.waitHealthy(20_000)));
});

afterAll(async () => {
  await Promise.all(leaders.map((leader) => leader.stop()));
  await follower?.stop();
  await bus?.deleteStreams();
  await bus?.close();
  await store?.clear();
  await store?.close();
  rmSync(home, { recursive: true, force: true });
});

describe("leader replicas on NATS and Redis", () => {
  it("record joins, votes and on-time UserBlocks; refuse late and equivocating blocks; keep the evidence", async () => {
    await sleepUntil(slotStartMs(timing, 1) + TICK_MS);
    for (const proposer of [0, 1, 2]) await requestJoin(proposer, slotAt(timing, Date.now()));
    const changes = () => [...records.values()].flatMap((r) => r.record.membershipChanges);
    // Recorded by whichever leader leads next (on each fork, if the leaders forked meanwhile).
    const joined = () => new Set(changes().map((c) => toHex(c.change.proposer))).size;
    await expect.poll(joined, { timeout: 5_000 }).toBe(3);
    const effective = Math.max(...changes().map((c) => c.change.effectiveSlot));

    const first = Math.max(2 * effective, 2 * slotAt(timing, Date.now()) + 2);
    const [u0, u1, u2, u3] = [first, first + 1, first + 2, first + 3];
    const timely = new Map<number, number[]>();
    for (const u of [u0, u1, u2, u3]) {
      const order = u === u1 ? [1, 0] : u === u2 ? [0, 2] : [1, 0, 2];
      const blocks = order.map((p) => userBlock(p, u, u));
      // Proposer 2 signs two different blocks for u1: equivocation.
      if (u === u1) blocks.push(userBlock(2, u1, 1), userBlock(2, u1, 2));
      timely.set(u, order);
      // Published early in their UserBlockSlot: on time even when this machine is loaded.
      await sleepUntil(userBlockSlotStartMs(timing, u) + TICK_MS);
      await publishUserBlocks(blocks);
    }
    // Proposer 1's block for u2 comes after the PoH passed u2's recording tick height.
    const late = userBlock(1, u2, u2);
    await sleepUntil(userBlockSlotEndMs(timing, u2) + (timing.graceTicks + 3) * TICK_MS);
    await publishUserBlocks([late]);

    const voted = Math.max(...records.keys());
    await vote(0, voted);
    await vote(1, voted);

    const lastRecording = Math.ceil(u3 / 2);
    await expect.poll(() => follower.newestSlot, { timeout: 5_000 }).toBeGreaterThan(lastRecording + 1);

    for (const u of [u0, u1, u2, u3]) {
      const slot = Math.ceil(u / 2);
      const record = records.get(slot)?.record;
      expect(record, `slot ${slot}, which records UserBlockSlot ${u}`).toBeDefined();
      const recorded = record!.userBlockSlots.find((r) => r.userBlockSlot === u)!;
      expect(recorded.entries.map((e) => toHex(e.proposer))).toEqual(
        timely.get(u)!.map((p) => toHex(proposers[p]!.publicKey)),
      );
      // Each as soon as the PoH passed the end of u plus the grace: right after the tick reaching
      // recordingTickHeight(u).
      const ticks = ticksOf(record!);
      for (const entry of recorded.entries) {
        expect(ticks[entry.entryIndex]!.heightBefore).toBe(recordingTickHeight(timing, u));
      }
    }

    const lateRecorder = leaderProcessOf(Math.ceil(u2 / 2));
    expect(
      await sample(lateRecorder, 'simd23_leader_user_blocks_refused_total{reason="late"}'),
    ).toBeGreaterThanOrEqual(1);
    const evidenceRecorder = leaderProcessOf(Math.ceil(u1 / 2));
    expect(await sample(evidenceRecorder, "simd23_leader_equivocations_total")).toBe(1);

    // The evidence: in the store at equivocation/<u>/<proposer>, and signed by the leader on CONTROL.
    const stored = await store.get(
      valueKey(
        `equivocation/${u1}/${toBase58(proposers[2]!.publicKey)}`,
        protoCodec(control.EquivocationEvidence),
      ),
    );
    expect(stored).toBeDefined();
    expect(
      verifyEquivocationEvidence({
        proposer: stored!.proposer,
        userBlockSlot: stored!.userBlockSlot,
        first: { header: stored!.first!.header!, signature: stored!.first!.signature },
        second: { header: stored!.second!.header!, signature: stored!.second!.signature },
      }),
    ).toBe(true);
    const published = await bus.getLast("CONTROL", subjects.equivocation);
    const opened = openEnvelope(genesis, published!.data, EnvelopeKind.KIND_EQUIVOCATION_EVIDENCE);
    expect(opened.ok && bytesEqual(opened.envelope.signer, context.leaders.leaderOf(Math.ceil(u1 / 2)))).toBe(
      true,
    );

    // Each validator's vote once on the chain (a fork that left it out would record it again).
    const chain = [follower.newestSlot, ...follower.ancestors(follower.newestSlot)];
    const votes = chain.flatMap((slot) =>
      (records.get(slot)?.record.votes ?? []).flatMap((entry) =>
        entry.votes.map((v) => `${v.validatorIndex}@${v.vote.slot}`),
      ),
    );
    expect(votes.filter((v) => v.endsWith(`@${voted}`)).sort()).toEqual([`0@${voted}`, `1@${voted}`]);
  });

  it("lets the next scheduled leader carry the ledger on within one slot when the active one is killed", async () => {
    let slot = slotAt(timing, Date.now()) + 2;
    while (bytesEqual(context.leaders.leaderOf(slot), context.leaders.leaderOf(slot + 1))) slot++;
    killed = leaderProcessOf(slot);
    const next = leaderProcessOf(slot + 1);
    await sleepUntil(slotStartMs(timing, slot) + SLOT_MS / 2);
    await killed.kill();
    const killedAtMs = Date.now();

    await expect.poll(() => records.get(slot + 1), { timeout: 3 * SLOT_MS + 2_000 }).toBeDefined();
    const carried = records.get(slot + 1)!;
    const lateByMs = carried.atMs - slotStartMs(timing, slot + 2);
    console.log(
      `leader of slot ${slot} killed ${killedAtMs - slotStartMs(timing, slot)} ms into it; slot ${slot + 1} ` +
        `(parent ${carried.record.parentSlot}) replayed ${lateByMs.toFixed(0)} ms after its scheduled end`,
    );
    expect(records.has(slot)).toBe(false);
    expect(carried.record.parentSlot).toBeLessThan(slot);
    // The skipped slot's ticks open the new slot: the tick height runs on unbroken.
    expect(carried.record.next.tickHeight).toBe((slot + 2) * TICKS_PER_SLOT);
    expect(lateByMs).toBeLessThan(SLOT_MS);
    expect(await sample(next, "simd23_leader_slots_skipped_total")).toBeGreaterThanOrEqual(1);

    // The survivor keeps producing its slots on the chain it carried on.
    let later = slot + 2;
    while (!bytesEqual(context.leaders.leaderOf(later), context.leaders.leaderOf(slot + 1))) later++;
    await expect.poll(() => records.get(later), { timeout: 4 * SLOT_MS + 2_000 }).toBeDefined();
    expect(follower.ancestors(later)).toContain(slot + 1);

    // The killed replica restarts, replays the ledger and produces again.
    await killed.restart();
    await killed.waitHealthy(20_000);
    const restartedAt = slotAt(timing, Date.now());
    const producedSinceRestart = () =>
      [...records.values()].some(
        ({ record }) =>
          record.slot > restartedAt && bytesEqual(record.leader, context.leaders.leaderOf(slot)),
      );
    await expect.poll(producedSinceRestart, { timeout: 5_000 }).toBe(true);
  });

  it("ticks on schedule: drift as measured by the leaders and as seen at the server", async () => {
    const survivor = leaders.find((l) => l !== killed)!;
    const buckets = await scrape(survivor, "simd23_leader_tick_drift_seconds_bucket");
    const count = await sample(survivor, "simd23_leader_tick_drift_seconds_count");
    const sum = await sample(survivor, "simd23_leader_tick_drift_seconds_sum");
    const within = (le: string) => buckets.find((b) => b.labels.includes(`le="${le}"`))!.value / count;
    const hashes = await sample(survivor, "simd23_leader_poh_hashes_total");

    // Server-side: each own tick's JetStream timestamp against its due time (skipped slots' ticks
    // are made late on purpose and left out).
    const drifts: number[] = [];
    for (const { record } of records.values()) {
      const firstOwnHeight = record.slot * TICKS_PER_SLOT;
      ticksOf(record).forEach(({ heightBefore, isTick }, index) => {
        if (!isTick || heightBefore < firstOwnHeight) return;
        const due = Number(timing.startTimeMs) + (heightBefore + 1) * TICK_MS;
        drifts.push(entries.get(`${record.slot}/${index}`)!.atMs - due);
      });
    }
    drifts.sort((a, b) => a - b);
    const produced = readFileSync(survivor.logFile, "utf8")
      .split("\n")
      .filter((line) => line.includes('"slot produced"'))
      .map((line) => JSON.parse(line) as { hashesPerSecond: number; parentReason: string })
      .filter((slot) => slot.parentReason === "previous-slot")
      .map((slot) => slot.hashesPerSecond)
      .sort((a, b) => a - b);
    console.log(
      [
        `tick drift at ${survivor.name} over ${count} ticks: mean ${((1000 * sum) / count).toFixed(2)} ms, ` +
          `≤1 ms ${(100 * within("0.001")).toFixed(1)} %, ≤5 ms ${(100 * within("0.005")).toFixed(1)} %, ` +
          `≤20 ms ${(100 * within("0.02")).toFixed(1)} %`,
        `tick at the server vs schedule over ${drifts.length} ticks: p50 ${quantile(drifts, 0.5).toFixed(1)} ms, ` +
          `p99 ${quantile(drifts, 0.99).toFixed(1)} ms, max ${drifts.at(-1)!.toFixed(1)} ms`,
        `PoH: ${hashes} hashes (genesis rate ${(timing.hashesPerTick * TICKS_PER_SLOT * 1000) / SLOT_MS}/s); ` +
          `hashing speed per slot median ${(quantile(produced, 0.5) / 1e6).toFixed(2)} M/s`,
      ].join("\n"),
    );
    expect(count).toBeGreaterThanOrEqual(4 * TICKS_PER_SLOT);
    // On schedule: no tick before its time (the server's timestamps are whole milliseconds), and
    // the median tick reaches the server within a tick of its due time.
    expect(drifts[0]).toBeGreaterThanOrEqual(-1);
    expect(quantile(drifts, 0.5)).toBeLessThan(TICK_MS);
  });
});
