import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ClientReadableStream, credentials, status } from "@grpc/grpc-js";
import { type Bus, connectNatsBus } from "@simd23/bus";
import { ConfirmationLevel, createTestnetGenesis, genesisToJson, VerdictLevel } from "@simd23/core";
import { control, voteaggregator } from "@simd23/proto";
import { TestLedger as TestCluster } from "@simd23/runtime/testing";
import { connectRedisStore, type Store } from "@simd23/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RoleProcess } from "../../packages/client/src/devnet/processes.js";

// The vote aggregator as its own process (node services/vote-aggregator/dist/main.js) on the
// real NATS and Redis; the test plays the leader, the proposers, the validators and the
// verifier with the protocol core and publishes what they would.

const L = ConfirmationLevel;
const natsUrl = process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222";
const redisUrl = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";
const namespace = `agge2e-${randomBytes(4).toString("hex")}`;
const seed = randomBytes(32);
const genesis = createTestnetGenesis({
  clusterName: "aggregator-e2e",
  clusterSeed: seed,
  startTimeMs: BigInt(Date.now()),
  validators: 4,
  stake: [4_000_000_000n, 3_000_000_000n, 2_000_000_000n, 1_000_000_000n],
  leaders: 4,
  proposerPool: 2,
  timing: {
    slotDurationMs: 200,
    ticksPerSlot: 16,
    hashesPerTick: 2_000,
    proposerHashesPerTick: 200,
    graceTicks: 2,
    slotsPerLeaderWindow: 2,
    membershipDelaySlots: 2,
    proposerEvictionUserBlockSlots: 64,
    maxLockoutHistory: 8,
  },
});
const directory = mkdtempSync(join(tmpdir(), "simd23-aggregator-e2e-"));
const genesisPath = join(directory, "genesis.json");
writeFileSync(genesisPath, genesisToJson(genesis));

let bus: Bus;
let store: Store;
let cluster: TestCluster;
let aggregator: RoleProcess;
let client: voteaggregator.VoteAggregatorServiceClient;

beforeAll(async () => {
  bus = await connectNatsBus({ servers: natsUrl, namespace, name: "aggregator-e2e" });
  store = await connectRedisStore({ url: redisUrl, namespace, clientName: "aggregator-e2e" });
  cluster = new TestCluster(bus, genesis, seed);
  aggregator = await RoleProcess.start({
    role: "vote-aggregator",
    replica: 0,
    logDir: join(directory, "logs"),
    env: {
      SIMD23_GENESIS: genesisPath,
      SIMD23_CLUSTER_SEED: Buffer.from(seed).toString("hex"),
      SIMD23_NAMESPACE: namespace,
      SIMD23_NATS_URL: natsUrl,
      SIMD23_REDIS_URL: redisUrl,
      SIMD23_BIND_ADDRESS: "127.0.0.1",
      SIMD23_LOG_LEVEL: "info",
      SIMD23_VOTE_AGGREGATOR_SUBSCRIPTION_REFRESH_MS: "200",
      OTEL_SDK_DISABLED: "true",
    },
  });
  await aggregator.waitHealthy();
  client = new voteaggregator.VoteAggregatorServiceClient(
    aggregator.grpcAddress,
    credentials.createInsecure(),
  );
});

afterAll(async () => {
  client?.close();
  await aggregator?.stop();
  await bus?.deleteStreams();
  await bus?.close();
  await store?.clear();
  await store?.close();
  rmSync(directory, { recursive: true, force: true });
});

function statusOf(signature: Uint8Array): Promise<voteaggregator.SignatureStatus> {
  return new Promise((resolve, reject) =>
    client.getSignatureStatuses({ signatures: [signature] }, (error, response) =>
      error ? reject(error) : resolve(response.statuses[0]!),
    ),
  );
}

const levelOf = async (signature: Uint8Array) => (await statusOf(signature)).levels.at(-1)?.level ?? 0;

function clusterStatus(): Promise<voteaggregator.GetClusterStatusResponse> {
  return new Promise((resolve, reject) =>
    client.getClusterStatus({}, (error, response) => (error ? reject(error) : resolve(response))),
  );
}

async function metrics(): Promise<string> {
  return (await fetch(aggregator.metricsUrl)).text();
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const times = (levels: readonly voteaggregator.LevelReached[]) => levels.map((l) => Number(l.timeMs));
const nonDecreasing = (values: readonly number[]) => values.every((v, i) => i === 0 || v >= values[i - 1]!);

describe("the vote aggregator process on NATS and Redis", () => {
  it("takes a transaction from recorded to finalized, polled and streamed, through a restart", async () => {
    cluster.join(0);
    await cluster.produceSlot(1);
    await cluster.produceSlot(2);
    const signature = cluster.transfer();

    const stream: ClientReadableStream<voteaggregator.SubscribeSignaturesResponse> =
      client.subscribeSignatures({
        signatures: [signature],
      });
    const streamed: voteaggregator.SubscribeSignaturesResponse[] = [];
    stream.on("data", (message: voteaggregator.SubscribeSignaturesResponse) => streamed.push(message));
    const ended = new Promise<number>((resolve) =>
      stream.on("status", (s: { code: number }) => resolve(s.code)),
    );
    stream.on("error", () => {});
    await expect.poll(async () => /simd23_vote_aggregator_subscribers 1/.test(await metrics())).toBe(true);

    await cluster.proposeFor(3);
    await cluster.produceSlot(3);
    await expect.poll(() => levelOf(signature), { timeout: 10_000 }).toBe(L.CONFIRMATION_LEVEL_RECORDED);

    // 4 of 10 is not 2/3 of stake; 7 of 10 is.
    await cluster.vote(0, 3);
    await cluster.vote(1, 3);
    await expect.poll(() => levelOf(signature), { timeout: 10_000 }).toBe(L.CONFIRMATION_LEVEL_OPTIMISTIC);

    const results = cluster.resultsOf(3);
    await cluster.verdict(3, VerdictLevel.VERDICT_LEVEL_EXECUTED, results);
    await expect.poll(() => levelOf(signature), { timeout: 10_000 }).toBe(L.CONFIRMATION_LEVEL_EXECUTED);
    const executed = await statusOf(signature);
    expect(hex(control.TransactionResult.encode(executed.result!).finish())).toBe(
      hex(control.TransactionResult.encode(results[0]!).finish()),
    );

    await cluster.verdict(3, VerdictLevel.VERDICT_LEVEL_FINALIZED);
    await expect.poll(() => levelOf(signature), { timeout: 10_000 }).toBe(L.CONFIRMATION_LEVEL_FINALIZED);

    const final = await statusOf(signature);
    expect(final.levels.map((l) => l.level)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(nonDecreasing(times(final.levels))).toBe(true);
    expect(final.result?.status).toBe(results[0]!.status);

    // The stream was opened before the transaction was recorded: it saw every level, in order,
    // with the stored times and the result, and ended once the transaction was final.
    expect(await ended).toBe(status.OK);
    expect(streamed.map((m) => m.reached!.level)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(times(streamed.map((m) => m.reached!))).toEqual(times(final.levels));
    expect(streamed.filter((m) => m.result !== undefined).map((m) => m.reached!.level)).toEqual([5, 6]);

    expect(await clusterStatus()).toMatchObject({
      slot: 3,
      optimisticSlot: 3,
      executedSlot: 3,
      finalizedSlot: 3,
      halted: false,
      totalStake: 10_000_000_000n,
    });
    const text = await metrics();
    expect(text).toMatch(/simd23_vote_aggregator_transactions_total\{level="finalized"\} 1/);
    expect(text).toMatch(/simd23_vote_aggregator_votes_total 2/);
    expect(text).toMatch(/simd23_vote_aggregator_finalized_slot 3/);

    // A restarted replica replays the streams and reads the index: nothing changes.
    await aggregator.stop();
    await aggregator.restart();
    await aggregator.waitHealthy();
    expect(await statusOf(signature)).toEqual(final);
    expect(await clusterStatus()).toMatchObject({ slot: 3, executedSlot: 3, finalizedSlot: 3 });
  });

  it("reports a verified halt in GetClusterStatus, health and metrics", async () => {
    const halt = await cluster.halt(3, 2);
    await expect.poll(async () => (await clusterStatus()).halted, { timeout: 10_000 }).toBe(true);
    const reported = (await clusterStatus()).halt!;
    expect(hex(control.Halt.encode(reported).finish())).toBe(hex(control.Halt.encode(halt).finish()));
    expect(await aggregator.health()).toBe("NOT_SERVING");
    expect(await metrics()).toMatch(/simd23_vote_aggregator_halted 1/);
    expect(await aggregator.stop()).toBe(0);
  });
});
