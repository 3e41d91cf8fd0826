import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClientReadableStream, credentials, type ServiceError, status } from "@grpc/grpc-js";
import { type Bus, createMemoryBus } from "@simd23/bus";
import {
  ConfirmationLevel,
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  genesisToJson,
  KEY_ROLES,
  VerdictLevel,
} from "@simd23/core";
import { control, voteaggregator } from "@simd23/proto";
import { SignedPublisher, StatusIndex, subjects } from "@simd23/runtime";
import { TestLedger as TestCluster } from "@simd23/runtime/testing";
import { loadConfig, readRejection, type ServiceHandle, startService } from "@simd23/service-kit";
import { createMemoryStore, type Store } from "@simd23/store";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { startVoteAggregator, type VoteAggregator } from "./vote-aggregator.js";

const L = ConfirmationLevel;
const seed = randomBytes(32);
const genesis = createTestnetGenesis({
  clusterName: "aggregator-unit",
  clusterSeed: seed,
  startTimeMs: BigInt(Date.now()),
  validators: 4,
  stake: [4_000n, 3_000n, 2_000n, 1_000n],
  leaders: 4,
  proposerPool: 2,
  timing: {
    slotDurationMs: 200,
    ticksPerSlot: 8,
    hashesPerTick: 16,
    proposerHashesPerTick: 4,
    graceTicks: 1,
    slotsPerLeaderWindow: 2,
    membershipDelaySlots: 2,
    proposerEvictionUserBlockSlots: 64,
    maxLockoutHistory: 8,
  },
});
const directory = mkdtempSync(join(tmpdir(), "simd23-aggregator-"));
const genesisPath = join(directory, "genesis.json");
writeFileSync(genesisPath, genesisToJson(genesis));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

interface Replica {
  readonly service: ServiceHandle;
  readonly aggregator: VoteAggregator;
  readonly client: voteaggregator.VoteAggregatorServiceClient;
}

const running: Replica[] = [];
afterEach(async () => {
  for (const replica of running.splice(0)) {
    replica.client.close();
    await replica.service.shutdown("test over");
  }
});

async function startReplica(
  bus: Bus,
  store: Store,
  replicaOrdinal = 0,
  options: { retainSlots?: number } = {},
): Promise<Replica> {
  const config = loadConfig({
    env: {
      SIMD23_GENESIS: genesisPath,
      SIMD23_CLUSTER_SEED: Buffer.from(seed).toString("hex"),
      SIMD23_NAMESPACE: bus.namespace,
      SIMD23_BUS: "memory",
      SIMD23_STORE: "memory",
      SIMD23_BIND_ADDRESS: "127.0.0.1",
      SIMD23_GRPC_PORT: "0",
      SIMD23_METRICS_PORT: "0",
      SIMD23_LOG_LEVEL: "warn",
      SIMD23_REPLICA_ORDINAL: String(replicaOrdinal),
      OTEL_SDK_DISABLED: "true",
    },
  });
  let aggregator: VoteAggregator | undefined;
  const service = await startService({
    role: "vote-aggregator",
    config,
    manageProcess: false,
    logDestination: { write: () => {} },
    build: ({ logger, metrics, health, shutdownSignal }) => {
      aggregator = startVoteAggregator({
        genesis,
        bus,
        store,
        logger,
        metrics,
        health,
        shutdownSignal,
        options: { subscriptionRefreshMs: 100, ...options },
      });
      return { services: [aggregator.service], hooks: aggregator.hooks };
    },
  });
  const client = new voteaggregator.VoteAggregatorServiceClient(
    `127.0.0.1:${service.grpcPort}`,
    credentials.createInsecure(),
  );
  const replica = { service, aggregator: aggregator!, client };
  running.push(replica);
  await replica.aggregator.caughtUp;
  return replica;
}

function openCluster(): { bus: Bus; store: Store; cluster: TestCluster } {
  const namespace = `agg-${randomBytes(4).toString("hex")}`;
  const bus = createMemoryBus({ namespace });
  const store = createMemoryStore({ namespace });
  return { bus, store, cluster: new TestCluster(bus, genesis, seed) };
}

function statusesOf(replica: Replica, signatures: Uint8Array[]): Promise<voteaggregator.SignatureStatus[]> {
  return new Promise((resolve, reject) =>
    replica.client.getSignatureStatuses({ signatures }, (error, response) =>
      error ? reject(error) : resolve(response.statuses),
    ),
  );
}

async function levelOf(replica: Replica, signature: Uint8Array): Promise<number> {
  const [found] = await statusesOf(replica, [signature]);
  return found?.levels.at(-1)?.level ?? 0;
}

function clusterStatusOf(replica: Replica): Promise<voteaggregator.GetClusterStatusResponse> {
  return new Promise((resolve, reject) =>
    replica.client.getClusterStatus({}, (error, response) => (error ? reject(error) : resolve(response))),
  );
}

interface Collected {
  readonly messages: voteaggregator.SubscribeSignaturesResponse[];
  readonly ended: Promise<{ code: number; details: string }>;
}

function collect(stream: ClientReadableStream<voteaggregator.SubscribeSignaturesResponse>): Collected {
  const messages: voteaggregator.SubscribeSignaturesResponse[] = [];
  stream.on("data", (message: voteaggregator.SubscribeSignaturesResponse) => messages.push(message));
  const ended = new Promise<{ code: number; details: string }>((resolve) => {
    stream.on("status", (s: { code: number; details: string }) => resolve(s));
    stream.on("error", () => {});
  });
  return { messages, ended };
}

async function metricValue(
  replica: Replica,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = await replica.service.metrics.registry.getSingleMetric(name)?.get();
  const value = metric?.values.find((v) =>
    Object.entries(labels).every(([k, l]) => (v.labels as Record<string, string>)[k] === l),
  );
  return value?.value ?? 0;
}

/** A histogram's `_count` or `_sum` for the given labels. */
async function histogramValue(
  replica: Replica,
  name: string,
  series: "count" | "sum",
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = await replica.service.metrics.registry.getSingleMetric(name)?.get();
  return metric?.values.find(
    (v) =>
      (v as { metricName?: string }).metricName === `${name}_${series}` &&
      Object.entries(labels).every(([k, l]) => (v.labels as Record<string, string>)[k] === l),
  )?.value;
}

/** Slots 1 and 2, with proposer 0 joining in slot 1 (active from slot 3). */
async function bootstrap(cluster: TestCluster): Promise<void> {
  cluster.join(0);
  await cluster.produceSlot(1);
  await cluster.produceSlot(2);
}

/** Slots 3 and 4, both built on slot 2, each with a transfer: two forks, neither voted on yet. */
async function twoForks(
  cluster: TestCluster,
): Promise<{ onLosingFork: Uint8Array; onVotedFork: Uint8Array }> {
  const onLosingFork = cluster.transfer();
  await cluster.proposeFor(3, 2);
  await cluster.produceSlot(3, { parentSlot: 2 });
  const onVotedFork = cluster.transfer();
  await cluster.proposeFor(4, 2);
  await cluster.produceSlot(4, { parentSlot: 2 });
  return { onLosingFork, onVotedFork };
}

const resultHex = (result: control.TransactionResult | undefined) =>
  result === undefined
    ? undefined
    : Buffer.from(control.TransactionResult.encode(result).finish()).toString("hex");
const haltHex = (halt: control.Halt | undefined) =>
  halt === undefined ? undefined : Buffer.from(control.Halt.encode(halt).finish()).toString("hex");
const times = (levels: readonly voteaggregator.LevelReached[]) => levels.map((l) => Number(l.timeMs));
const nonDecreasing = (values: readonly number[]) => values.every((v, i) => i === 0 || v >= values[i - 1]!);

describe("the vote aggregator on the in-process bus and store", () => {
  it("takes a transaction from proposed to finalized, in the index and a subscription opened before", async () => {
    const { bus, store, cluster } = openCluster();
    await bootstrap(cluster);
    const replica = await startReplica(bus, store);
    const signature = cluster.transfer();
    const subscription = collect(replica.client.subscribeSignatures({ signatures: [signature] }));
    await expect.poll(() => metricValue(replica, "simd23_vote_aggregator_subscribers")).toBe(1);

    await cluster.proposeFor(3);
    await expect.poll(() => levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_PROPOSED);
    await cluster.produceSlot(3);
    await expect.poll(() => levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_RECORDED);

    // 4,000 of 10,000 is not 2/3; with the second validator's 3,000 it is.
    await cluster.vote(0, 3);
    await replica.aggregator.settle();
    expect(await levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_RECORDED);
    await cluster.vote(1, 3);
    await expect.poll(() => levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_OPTIMISTIC);

    // A verdict sealed by a validator is refused and changes nothing.
    await new SignedPublisher(bus, deriveKeypair(seed, KEY_ROLES.validator, 0)).publish(
      EnvelopeKind.KIND_SLOT_VERDICT,
      subjects.verdicts,
      control.SlotVerdict.encode({
        slot: 3,
        level: VerdictLevel.VERDICT_LEVEL_EXECUTED,
        tally: undefined,
        results: cluster.resultsOf(3),
        userBlockSlots: [],
      }).finish(),
    );
    await replica.aggregator.settle();
    expect(await levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_OPTIMISTIC);
    await expect
      .poll(() =>
        metricValue(replica, "simd23_vote_aggregator_messages_refused_total", {
          stream: "bankhashes",
          reason: "unauthorized_signer",
        }),
      )
      .toBe(1);

    const [result] = cluster.resultsOf(3);
    await cluster.verdict(3, VerdictLevel.VERDICT_LEVEL_EXECUTED, cluster.resultsOf(3));
    await expect.poll(() => levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_EXECUTED);
    await cluster.verdict(3, VerdictLevel.VERDICT_LEVEL_FINALIZED);
    await expect.poll(() => levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_FINALIZED);

    await replica.aggregator.settle();
    const [stored] = await statusesOf(replica, [signature]);
    expect(stored!.levels.map((l) => l.level)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(nonDecreasing(times(stored!.levels))).toBe(true);
    expect(resultHex(stored!.result)).toBe(resultHex(result));

    // The subscription saw every level once, in order, with the same times, and then completed.
    expect((await subscription.ended).code).toBe(status.OK);
    expect(subscription.messages.map((m) => m.reached!.level)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(times(subscription.messages.map((m) => m.reached!))).toEqual(times(stored!.levels));
    expect(resultHex(subscription.messages[4]!.result)).toBe(resultHex(result));
    expect(resultHex(subscription.messages[5]!.result)).toBe(resultHex(result));

    expect(await clusterStatusOf(replica)).toMatchObject({
      slot: 3,
      optimisticSlot: 3,
      executedSlot: 3,
      finalizedSlot: 3,
      halted: false,
      totalStake: 10_000n,
    });
    expect(await metricValue(replica, "simd23_vote_aggregator_votes_total")).toBe(2);
    for (const level of ["received", "proposed", "recorded", "optimistic", "executed", "finalized"]) {
      expect(await metricValue(replica, "simd23_vote_aggregator_transactions_total", { level })).toBe(1);
    }
    expect(await metricValue(replica, "simd23_vote_aggregator_finalized_slot")).toBe(3);
    expect(await metricValue(replica, "simd23_vote_aggregator_slot")).toBe(3);
    // Slots 1, 2 and 3 were confirmed by the second vote.
    expect(
      await histogramValue(replica, "simd23_vote_aggregator_optimistic_confirmation_seconds", "count"),
    ).toBe(3);
    await expect.poll(() => metricValue(replica, "simd23_vote_aggregator_subscribers")).toBe(0);
  });

  it("measures latency from the received time a proposer wrote", async () => {
    const { bus, store, cluster } = openCluster();
    await bootstrap(cluster);
    const replica = await startReplica(bus, store);
    const signature = cluster.transfer();
    const proposerIndex = new StatusIndex({ store });
    proposerIndex.reached(signature, "received", Date.now() - 1_000);
    await proposerIndex.flush();
    await cluster.proposeFor(3);
    await cluster.produceSlot(3);
    await expect.poll(() => levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_RECORDED);
    await replica.aggregator.settle();
    const latency = "simd23_vote_aggregator_confirmation_latency_seconds";
    expect(await histogramValue(replica, latency, "count", { level: "proposed" })).toBe(1);
    expect(await histogramValue(replica, latency, "count", { level: "recorded" })).toBe(1);
    expect(await histogramValue(replica, latency, "sum", { level: "recorded" })).toBeGreaterThanOrEqual(1);
    const [stored] = await statusesOf(replica, [signature]);
    expect(stored!.levels.map((l) => l.level)).toEqual([1, 2, 3]);
    expect(nonDecreasing(times(stored!.levels))).toBe(true);
  });

  it("catches up from the streams: a slot on the losing fork stays recorded, the voted fork is optimistic", async () => {
    const { bus, store, cluster } = openCluster();
    await bootstrap(cluster);
    const { onLosingFork, onVotedFork } = await twoForks(cluster);
    // Only the ledger carries these votes (nothing on VOTES): 7,000 of 10,000 on slot 4.
    await cluster.produceSlot(5, {
      parentSlot: 4,
      votes: [cluster.signedVote(0, 4), cluster.signedVote(1, 4)],
    });

    const replica = await startReplica(bus, store);
    await replica.aggregator.settle();
    expect(await levelOf(replica, onLosingFork)).toBe(L.CONFIRMATION_LEVEL_RECORDED);
    expect(await levelOf(replica, onVotedFork)).toBe(L.CONFIRMATION_LEVEL_OPTIMISTIC);
    const [voted] = await statusesOf(replica, [onVotedFork]);
    expect(nonDecreasing(times(voted!.levels))).toBe(true);
    expect(await clusterStatusOf(replica)).toMatchObject({ slot: 5, optimisticSlot: 4 });
    expect(await metricValue(replica, "simd23_vote_aggregator_optimistic_slot")).toBe(4);
    expect(await metricValue(replica, "simd23_vote_aggregator_votes_total")).toBe(0);
  });

  it("reports an EXECUTED verdict only for a slot optimistically confirmed or finalized, never for one on an abandoned fork", async () => {
    const { bus, store, cluster } = openCluster();
    await bootstrap(cluster);
    const replica = await startReplica(bus, store);
    const { onLosingFork, onVotedFork } = await twoForks(cluster);
    await expect.poll(() => levelOf(replica, onVotedFork)).toBe(L.CONFIRMATION_LEVEL_RECORDED);

    // More than 1/3 of stake agreed on each slot's BankHash: both slots have an EXECUTED verdict.
    await cluster.verdict(3, VerdictLevel.VERDICT_LEVEL_EXECUTED, cluster.resultsOf(3));
    await cluster.verdict(4, VerdictLevel.VERDICT_LEVEL_EXECUTED, cluster.resultsOf(4));
    await replica.aggregator.settle();
    expect(await levelOf(replica, onLosingFork)).toBe(L.CONFIRMATION_LEVEL_RECORDED);
    expect(await levelOf(replica, onVotedFork)).toBe(L.CONFIRMATION_LEVEL_RECORDED);
    expect((await statusesOf(replica, [onVotedFork]))[0]!.result).toBeUndefined();

    // 7,000 of 10,000 vote for slot 4: it is confirmed, and its results are reported with it.
    await cluster.vote(0, 4);
    await cluster.vote(1, 4);
    await expect.poll(() => levelOf(replica, onVotedFork)).toBe(L.CONFIRMATION_LEVEL_EXECUTED);
    await replica.aggregator.settle();
    const [voted] = await statusesOf(replica, [onVotedFork]);
    expect(voted!.levels.map((l) => l.level)).toEqual([1, 2, 3, 4, 5]);
    expect(nonDecreasing(times(voted!.levels))).toBe(true);
    expect(resultHex(voted!.result)).toBe(resultHex(cluster.resultsOf(4)[0]));
    expect(await levelOf(replica, onLosingFork)).toBe(L.CONFIRMATION_LEVEL_RECORDED);
    expect((await statusesOf(replica, [onLosingFork]))[0]!.result).toBeUndefined();
  });

  it("reports the results of a slot finalized before this replica saw it confirmed", async () => {
    const { bus, store, cluster } = openCluster();
    await bootstrap(cluster);
    const replica = await startReplica(bus, store);
    const signature = cluster.transfer();
    await cluster.proposeFor(3);
    await cluster.produceSlot(3);
    await cluster.verdict(3, VerdictLevel.VERDICT_LEVEL_EXECUTED, cluster.resultsOf(3));
    await cluster.verdict(3, VerdictLevel.VERDICT_LEVEL_FINALIZED);
    await expect.poll(() => levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_FINALIZED);
    await replica.aggregator.settle();
    const [stored] = await statusesOf(replica, [signature]);
    expect(stored!.levels.map((l) => l.level)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(resultHex(stored!.result)).toBe(resultHex(cluster.resultsOf(3)[0]));
  });

  it("keeps a slot's EXECUTED results past the slot retention until its FINALIZED verdict reports them", async () => {
    const { bus, store, cluster } = openCluster();
    await bootstrap(cluster);
    const replica = await startReplica(bus, store, 0, { retainSlots: 8 });
    const signature = cluster.transfer();
    await cluster.proposeFor(3);
    await cluster.produceSlot(3);
    await cluster.verdict(3, VerdictLevel.VERDICT_LEVEL_EXECUTED, cluster.resultsOf(3));
    // Twelve slots later slot 3 is past the retention of 8, still unconfirmed (nobody voted).
    for (let slot = 4; slot <= 15; slot++) await cluster.produceSlot(slot);
    await expect.poll(async () => (await clusterStatusOf(replica)).slot).toBe(15);
    await replica.aggregator.settle();
    expect(await levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_RECORDED);
    await cluster.verdict(3, VerdictLevel.VERDICT_LEVEL_FINALIZED);
    await expect.poll(() => levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_FINALIZED);
    const [stored] = await statusesOf(replica, [signature]);
    expect(resultHex(stored!.result)).toBe(resultHex(cluster.resultsOf(3)[0]));
  });

  it("lets replicas agree, keeps the first time of each level, and reports a halt", async () => {
    const { bus, store, cluster } = openCluster();
    await bootstrap(cluster);
    const first = await startReplica(bus, store, 0);
    const second = await startReplica(bus, store, 1);
    const signature = cluster.transfer();
    await cluster.proposeFor(3);
    await cluster.produceSlot(3);
    await cluster.vote(0, 3);
    await cluster.vote(1, 3);
    await cluster.verdict(3, VerdictLevel.VERDICT_LEVEL_EXECUTED, cluster.resultsOf(3));
    for (const replica of [first, second]) {
      await expect.poll(() => levelOf(replica, signature)).toBe(L.CONFIRMATION_LEVEL_EXECUTED);
      await replica.aggregator.settle();
    }
    expect(await statusesOf(first, [signature])).toEqual(await statusesOf(second, [signature]));
    // A replica started later reads the levels the others stored, with their times.
    const late = await startReplica(bus, store, 2);
    expect(await statusesOf(late, [signature])).toEqual(await statusesOf(first, [signature]));

    const halt = await cluster.halt(3, 2);
    for (const replica of [first, second, late]) {
      await expect.poll(async () => (await clusterStatusOf(replica)).halted).toBe(true);
      expect(haltHex((await clusterStatusOf(replica)).halt)).toBe(haltHex(halt));
      expect(replica.service.health.notServingReasons).toContain("halted");
      expect(await metricValue(replica, "simd23_vote_aggregator_halted")).toBe(1);
    }
  });

  it("refuses malformed requests and ends streams on cancel and on shutdown", async () => {
    const { bus, store, cluster } = openCluster();
    await bootstrap(cluster);
    const replica = await startReplica(bus, store);
    const refused = await statusesOf(replica, [new Uint8Array(10)]).catch((error: ServiceError) => error);
    expect(readRejection(refused)).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: "MALFORMED_SIGNATURE",
    });
    const tooMany = Array.from({ length: 257 }, (_, i) => new Uint8Array(64).fill(i % 250));
    expect(readRejection(await statusesOf(replica, tooMany).catch((e: ServiceError) => e))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: "TOO_MANY_SIGNATURES",
    });

    const cancelled = replica.client.subscribeSignatures({ signatures: [] });
    const cancelledStream = collect(cancelled);
    const everything = collect(replica.client.subscribeSignatures({ signatures: [] }));
    await expect.poll(() => metricValue(replica, "simd23_vote_aggregator_subscribers")).toBe(2);
    cancelled.cancel();
    expect((await cancelledStream.ended).code).toBe(status.CANCELLED);
    await expect.poll(() => metricValue(replica, "simd23_vote_aggregator_subscribers")).toBe(1);

    const signature = cluster.transfer();
    await cluster.proposeFor(3);
    await cluster.produceSlot(3);
    await expect
      .poll(() => everything.messages.filter((m) => Buffer.from(m.signature).equals(signature)).length)
      .toBe(3);
    running.splice(running.indexOf(replica), 1);
    replica.client.close();
    const report = await replica.service.shutdown("test");
    expect(report.completed).toBe(true);
    expect((await everything.ended).code).toBe(status.OK);
  });
});
