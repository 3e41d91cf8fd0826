import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bus, connectNatsBus } from "@simd23/bus";
import {
  bankHashCommitment,
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  ExecutionMode,
  type Genesis,
  genesisToJson,
  KEY_ROLES,
  keypairFromSeed,
  openEnvelope,
  toHex,
} from "@simd23/core";
import { ledger } from "@simd23/proto";
import {
  openBankHashReportMessage,
  openMismatchReportMessage,
  openVoteMessage,
  subjects,
} from "@simd23/runtime";
import { connectRedisStore, type Store } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { RoleProcess } from "../../packages/client/src/devnet/processes.js";
import { connect, type LoadReport, runLoad, type Simd23Client } from "../../packages/client/src/index.js";
import { ExecutorClient } from "../../services/executor/src/client.js";

// A whole cluster of built processes on the real NATS and Redis — 4 executors, 3 proposers, 1
// leader, the vote aggregator and the bank-hash verifier — in sync mode (the baseline: the
// leader executes before it records, validators execute before they vote), with the same small
// load run on an async-mode cluster for comparison.

const NATS_URL = process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222";
const REDIS_URL = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";
const SLOT_MS = 200;
const POLL = { timeout: 30_000, interval: 200 };
const LOAD = { rate: 20, durationMs: 3_000, payers: 4 };

interface Cluster {
  readonly namespace: string;
  readonly genesis: Genesis;
  readonly dir: string;
  readonly bus: Bus;
  readonly store: Store;
  readonly executors: RoleProcess[];
  readonly all: RoleProcess[];
  readonly executorClients: ExecutorClient[];
  readonly client: Simd23Client;
}

const clusters: Cluster[] = [];

async function startCluster(mode: ExecutionMode): Promise<Cluster> {
  const namespace = `e2e-sync-${randomBytes(4).toString("hex")}`;
  const seed = randomBytes(32);
  const genesis = createTestnetGenesis({
    clusterName: namespace,
    clusterSeed: seed,
    startTimeMs: BigInt(Date.now() + 2_000),
    validators: 4,
    leaders: 1,
    proposerPool: 3,
    mode,
    timing: {
      slotDurationMs: SLOT_MS,
      ticksPerSlot: 16,
      hashesPerTick: 2_000,
      proposerHashesPerTick: 200,
      graceTicks: 4,
      slotsPerLeaderWindow: 2,
      slotsPerEpoch: 1_024,
      membershipDelaySlots: 2,
      proposerEvictionUserBlockSlots: 6,
      maxLockoutHistory: 8,
    },
  });
  const dir = mkdtempSync(join(tmpdir(), `${namespace}-`));
  const genesisPath = join(dir, "genesis.json");
  writeFileSync(genesisPath, genesisToJson(genesis));
  const bus = await connectNatsBus({ servers: NATS_URL, namespace, name: "e2e-sync" });
  const store = await connectRedisStore({ url: REDIS_URL, namespace, clientName: "e2e-sync" });
  const env = {
    SIMD23_GENESIS: genesisPath,
    SIMD23_CLUSTER_SEED: Buffer.from(seed).toString("hex"),
    SIMD23_NAMESPACE: namespace,
    SIMD23_NATS_URL: NATS_URL,
    SIMD23_REDIS_URL: REDIS_URL,
    SIMD23_LOG_LEVEL: "info",
    SIMD23_SHUTDOWN_DEADLINE_MS: "4000",
    OTEL_SDK_DISABLED: "true",
  };
  const logDir = join(dir, "logs");
  const start = (role: RoleProcess["options"]["role"], replica: number, extra: Record<string, string> = {}) =>
    RoleProcess.start({ role, replica, env: { ...env, ...extra }, logDir });
  const executors = await Promise.all(
    [0, 1, 2, 3].map((i) => start("executor", i, { SIMD23_EXECUTOR_SNAPSHOT_INTERVAL_SLOTS: "8" })),
  );
  const others = await Promise.all([
    start("bank-hash-verifier", 0, { SIMD23_BANK_HASH_VERIFIER_RETAIN_FINALIZED_SLOTS: "1000" }),
    start("leader", 0),
    ...[0, 1, 2].map((i) => start("proposer", i)),
    start("vote-aggregator", 0),
  ]);
  const all = [...executors, ...others];
  const proposers = others.filter((p) => p.options.role === "proposer");
  const aggregator = others.find((p) => p.options.role === "vote-aggregator")!;
  const cluster: Cluster = {
    namespace,
    genesis,
    dir,
    bus,
    store,
    executors,
    all,
    executorClients: executors.map((e) => new ExecutorClient(e.grpcAddress, 10_000)),
    client: connect({
      proposers: proposers.map((p) => p.grpcAddress),
      executors: executors.map((e) => e.grpcAddress),
      voteAggregator: aggregator.grpcAddress,
      faucet: deriveKeypair(seed, KEY_ROLES.faucet, 0),
      limits: genesis.limits,
      fees: genesis.fees,
      rpcTimeoutMs: 10_000,
    }),
  };
  clusters.push(cluster);
  await Promise.all(all.map((p) => p.waitHealthy(60_000)));
  return cluster;
}

afterEach(async () => {
  for (const cluster of clusters.splice(0)) {
    cluster.client.close();
    for (const client of cluster.executorClients) client.close();
    await Promise.all(cluster.all.map((p) => p.stop()));
    await cluster.bus.deleteStreams();
    await cluster.store.clear();
    await cluster.bus.close();
    await cluster.store.close();
    if (process.env.KEEP_E2E_LOGS === undefined) rmSync(cluster.dir, { recursive: true, force: true });
    else console.log(`logs of ${cluster.namespace}: ${cluster.dir}/logs`);
  }
});

async function stored(bus: Bus, stream: "LEDGER" | "VOTES" | "BANKHASHES" | "CONTROL", filter: string) {
  const replay = bus.replay({ stream, filterSubjects: [filter], start: "all", stopAtEnd: true });
  const out = [];
  for await (const message of replay) out.push(message);
  return out;
}

/** Each slot's SlotEnd.bankHash, as the leader recorded it on LEDGER. */
async function leaderBankHashes(cluster: Cluster): Promise<Map<number, Uint8Array>> {
  const out = new Map<number, Uint8Array>();
  for (const message of await stored(cluster.bus, "LEDGER", subjects.allLedger)) {
    const opened = openEnvelope(cluster.genesis, message.data, EnvelopeKind.KIND_LEDGER);
    if (!opened.ok) throw opened.error;
    const decoded = ledger.LedgerMessage.decode(opened.envelope.body);
    if (decoded.kind?.$case === "end") out.set(decoded.kind.value.slot, decoded.kind.value.bankHash);
  }
  return out;
}

/** A small load, every transaction followed to finalized; latencies in ms, submit → level, at the aggregator. */
async function smallLoad(cluster: Cluster): Promise<LoadReport> {
  const report = await runLoad(cluster.client, { ...LOAD, until: "finalized", settleTimeoutMs: 40_000 });
  const row = (level: "recorded" | "executed" | "finalized") => {
    const summary = report.levels[level];
    return `${level} p50 ${summary.p50Ms} ms, p99 ${summary.p99Ms} ms (${summary.count})`;
  };
  console.log(
    `${ExecutionMode[cluster.genesis.mode]} load of ${LOAD.rate} tps for ${LOAD.durationMs} ms, ${SLOT_MS} ms slots: ` +
      `${row("recorded")}; ${row("executed")}; ${row("finalized")}`,
  );
  return report;
}

describe("sync mode: the same cluster executing as Solana does today", () => {
  it("takes transfers to executed and finalized, every honest BankHash is the leader's, and a wrong-BankHash validator stops voting", async () => {
    const cluster = await startCluster(ExecutionMode.EXECUTION_MODE_SYNC);
    const { genesis, client } = cluster;

    // Transfers to fresh accounts reach finalized with the right balances.
    const receivers = [0, 1, 2].map(() => keypairFromSeed(randomBytes(32)).publicKey);
    const sent = await Promise.all(
      receivers.map((to, i) => client.airdrop(to, 1_000n * BigInt(i + 1), { skipPreflight: true })),
    );
    const finals = await Promise.all(
      sent.map((s) => client.confirm(s.signature, "finalized", { timeoutMs: 40_000 })),
    );
    for (const status of finals) {
      expect(status.result?.ok).toBe(true);
      // No UserBlock in sync mode: `proposed` is implied by `recorded`, at its time.
      expect(status.levels.proposed).toBe(status.levels.recorded);
    }
    for (const [i, to] of receivers.entries()) {
      await expect
        .poll(async () => (await cluster.executorClients[i]!.account(to)).lamports, POLL)
        .toBe(1_000n * BigInt(i + 1));
    }
    const report = await smallLoad(cluster);
    expect(report.levels.finalized.count).toBe(report.accepted);
    expect(report.results).toEqual({ ok: report.accepted });

    // Every honest validator's reports and votes commit to the leader's own SlotEnd.bankHash.
    const reports = (await stored(cluster.bus, "BANKHASHES", subjects.allBankHashReports)).map((m) => {
      const opened = openBankHashReportMessage(genesis, m.data);
      if (!opened.ok) throw new Error(opened.detail);
      return opened.report;
    });
    expect(reports.length).toBeGreaterThan(4 * 10);
    const votes = (await stored(cluster.bus, "VOTES", subjects.allVotes)).map((m) => {
      const opened = openVoteMessage(genesis, m.data);
      if (!opened.ok) throw new Error(opened.detail);
      return opened.vote;
    });
    // Read last, so every slot reported or voted on above has its end here.
    const leaderHashes = await leaderBankHashes(cluster);
    for (const report of reports) {
      const leaderHash = leaderHashes.get(report.slot)!;
      expect(toHex(report.bankHashCommitment)).toBe(toHex(bankHashCommitment(leaderHash, report.validator)));
    }
    for (const v of votes) {
      expect(v.bankHash?.slot).toBe(v.vote.slot);
      const leaderHash = leaderHashes.get(v.vote.slot)!;
      expect(toHex(v.bankHash!.commitment)).toBe(toHex(bankHashCommitment(leaderHash, v.vote.validator)));
    }
    for (const executor of cluster.executorClients)
      expect((await executor.status()).executionLagSlots).toBe(0);

    // Validator 3 restarts with a wrong BankHash from a slot a little ahead: it marks those slots
    // dead and does not vote on them; the other three (75 % of stake) carry on; the verifier names it.
    const tip = Math.max(...leaderHashes.keys());
    const faultFrom = tip + 10;
    const faultyProcess = cluster.executors[3]!;
    await faultyProcess.restart({
      ...faultyProcess.extraEnv,
      SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT: String(faultFrom),
    });
    await faultyProcess.waitHealthy(30_000);
    await expect
      .poll(
        async () =>
          (await cluster.executorClients[3]!.status()).deadSlots.filter((s) => s >= faultFrom).length,
        POLL,
      )
      .toBeGreaterThanOrEqual(5);
    const faulty = await cluster.executorClients[3]!.status();
    expect(Math.min(...faulty.deadSlots)).toBe(faultFrom);
    expect(faulty.votedSlot).toBeLessThan(faultFrom);
    const late = await client.airdrop(keypairFromSeed(randomBytes(32)).publicKey, 5n, {
      skipPreflight: true,
    });
    expect((await client.confirm(late.signature, "finalized", { timeoutMs: 40_000 })).result?.ok).toBe(true);
    const wrong = toHex(genesis.validators[3]!.identity);
    const faultyVotes = (
      await stored(cluster.bus, "VOTES", subjects.vote(genesis.validators[3]!.identity))
    ).map((m) => {
      const opened = openVoteMessage(genesis, m.data);
      if (!opened.ok) throw new Error(opened.detail);
      return opened.vote.vote.slot;
    });
    expect(faultyVotes.every((slot) => slot < faultFrom)).toBe(true);
    for (const executor of cluster.executorClients.slice(0, 3))
      expect((await executor.status()).votedSlot).toBeGreaterThan(faultFrom);
    const mismatches = (await stored(cluster.bus, "CONTROL", subjects.mismatch)).map((m) => {
      const opened = openMismatchReportMessage(genesis, m.data);
      if (!opened.ok) throw new Error(opened.detail);
      return opened.report;
    });
    expect(mismatches.length).toBeGreaterThan(0);
    expect(mismatches.every((r) => r.evidence.every((e) => toHex(e.validator) === wrong))).toBe(true);
    expect(Math.min(...mismatches.map((r) => r.slot))).toBe(faultFrom);
    expect(await stored(cluster.bus, "CONTROL", subjects.halt)).toHaveLength(0);
    for (const process of cluster.all)
      expect(await (await fetch(process.metricsUrl)).text()).toMatch(/_build_info\{[^}]*mode="sync"/);
  });

  it("the same load on an async-mode cluster, for comparison", async () => {
    const cluster = await startCluster(ExecutionMode.EXECUTION_MODE_ASYNC);
    const report = await smallLoad(cluster);
    expect(report.levels.finalized.count).toBe(report.accepted);
  });
});
