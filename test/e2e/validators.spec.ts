import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { type Bus, connectNatsBus } from "@simd23/bus";
import {
  buildTransaction,
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  type Genesis,
  genesisToJson,
  KEY_ROLES,
  keypairFromSeed,
  openEnvelope,
  sha256,
  slotOfUserBlockSlot,
  slotStartMs,
  toHex,
  transferInstruction,
  utf8,
} from "@simd23/core";
import { control, proposer } from "@simd23/proto";
import { openBankHashReportMessage, openVoteMessage, ProposerDirectory, subjects } from "@simd23/runtime";
import { startRepairServer, TestLedger } from "@simd23/runtime/testing";
import { connectRedisStore, type Store } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { RoleProcess, roleEntryPoint } from "../../packages/client/src/devnet/processes.js";
import { BankHashVerifierClient } from "../../services/bank-hash-verifier/src/client.js";
import { ExecutorClient } from "../../services/executor/src/client.js";

// The ledger comes from the test (the core's SlotBuilder on a real-time loop, with proposers'
// UserBlocks built by the UserBlockBuilder) until the leader and proposer services can drive it.
const NATS_URL = process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222";
const REDIS_URL = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";
const SLOT_MS = 200;
// The machine these run on may be shared and loaded: wait on observed progress, generously.
const POLL = { timeout: 60_000, interval: 200 };

interface Cluster {
  readonly namespace: string;
  readonly genesis: Genesis;
  readonly seed: Uint8Array;
  readonly dir: string;
  readonly bus: Bus;
  readonly store: Store;
  readonly ledger: TestLedger;
  readonly executors: RoleProcess[];
  readonly verifier: RoleProcess;
  readonly clients: ExecutorClient[];
  readonly verifierClient: BankHashVerifierClient;
  /** The leader and proposer processes, when the ledger comes from the services. */
  readonly services: RoleProcess[];
  readonly stopLedger: AbortController;
  ledgerRunning: Promise<void>;
  readonly cleanups: (() => Promise<void>)[];
}

const clusters: Cluster[] = [];

async function startCluster(
  executorEnv: Record<number, Record<string, string>>,
  ledgerFrom: "test" | "services" = "test",
): Promise<Cluster> {
  const namespace = `e2e-val-${randomBytes(4).toString("hex")}`;
  const seed = randomBytes(32);
  const genesis = createTestnetGenesis({
    clusterName: namespace,
    clusterSeed: seed,
    startTimeMs: BigInt(Date.now() + 3_000),
    validators: 4,
    leaders: 1,
    proposerPool: 2,
    timing: {
      slotDurationMs: SLOT_MS,
      ticksPerSlot: 16,
      hashesPerTick: 2_000,
      proposerHashesPerTick: 200,
      // The leader service records a UserBlock only after a grace for its propagation: 4 ticks (50 ms).
      graceTicks: ledgerFrom === "test" ? 2 : 4,
      slotsPerLeaderWindow: 2,
      membershipDelaySlots: 2,
      proposerEvictionUserBlockSlots: 6,
      maxLockoutHistory: 8,
    },
  });
  const dir = mkdtempSync(join(tmpdir(), `${namespace}-`));
  const genesisPath = join(dir, "genesis.json");
  writeFileSync(genesisPath, genesisToJson(genesis));
  const bus = await connectNatsBus({ servers: NATS_URL, namespace, name: "e2e-validators" });
  const store = await connectRedisStore({ url: REDIS_URL, namespace, clientName: "e2e-validators" });
  const common = {
    SIMD23_GENESIS: genesisPath,
    SIMD23_CLUSTER_SEED: Buffer.from(seed).toString("hex"),
    SIMD23_NAMESPACE: namespace,
    SIMD23_NATS_URL: NATS_URL,
    SIMD23_REDIS_URL: REDIS_URL,
    SIMD23_LOG_LEVEL: "info",
    SIMD23_SHUTDOWN_DEADLINE_MS: "5000",
    OTEL_SDK_DISABLED: "true",
  };
  const logDir = join(dir, "logs");
  const [verifier, ...executors] = await Promise.all([
    RoleProcess.start({
      role: "bank-hash-verifier",
      replica: 0,
      env: { ...common, SIMD23_BANK_HASH_VERIFIER_RETAIN_FINALIZED_SLOTS: "1000" },
      logDir,
    }),
    ...[0, 1, 2, 3].map((i) =>
      RoleProcess.start({
        role: "executor",
        replica: i,
        env: { ...common, SIMD23_EXECUTOR_SNAPSHOT_INTERVAL_SLOTS: "4", ...executorEnv[i] },
        logDir,
      }),
    ),
  ]);
  const services =
    ledgerFrom === "test"
      ? []
      : await Promise.all([
          RoleProcess.start({ role: "leader", replica: 0, env: common, logDir }),
          ...[0, 1].map((replica) => RoleProcess.start({ role: "proposer", replica, env: common, logDir })),
        ]);
  const ledger = new TestLedger(bus, genesis, seed);
  const cluster: Cluster = {
    namespace,
    genesis,
    seed,
    dir,
    bus,
    store,
    ledger,
    executors,
    verifier: verifier!,
    clients: executors.map((e) => new ExecutorClient(e.grpcAddress, 15_000)),
    verifierClient: new BankHashVerifierClient(verifier!.grpcAddress, 15_000),
    services,
    stopLedger: new AbortController(),
    ledgerRunning: Promise.resolve(),
    cleanups: [],
  };
  clusters.push(cluster);
  await Promise.all([verifier!, ...executors, ...services].map((p) => p.waitHealthy(60_000)));
  if (ledgerFrom === "services") return cluster;
  ledger.recordVotesFromStream();
  ledger.join(0, 1);
  cluster.ledgerRunning = ledger
    .runRealTime(cluster.stopLedger.signal)
    .catch((e) => console.log("LEDGER FAILED", e));
  return cluster;
}

afterEach(async () => {
  for (const cluster of clusters.splice(0)) {
    cluster.stopLedger.abort();
    await cluster.ledgerRunning.catch(() => {});
    cluster.ledger.stop();
    for (const client of [...cluster.clients, cluster.verifierClient]) client.close();
    await Promise.all([cluster.verifier, ...cluster.executors, ...cluster.services].map((p) => p.stop()));
    for (const cleanup of cluster.cleanups) await cleanup();
    await cluster.bus.deleteStreams();
    await cluster.store.clear();
    await cluster.bus.close();
    await cluster.store.close();
    if (process.env.KEEP_E2E_LOGS === undefined) rmSync(cluster.dir, { recursive: true, force: true });
    else console.log(`logs of ${cluster.namespace}: ${cluster.dir}/logs`);
  }
});

async function untilSlot(cluster: Cluster, slot: number): Promise<void> {
  await expect
    .poll(() => cluster.ledger.newestSlot, { timeout: 60_000, interval: 50 })
    .toBeGreaterThanOrEqual(slot);
}

async function stored(bus: Bus, stream: "VOTES" | "BANKHASHES" | "CONTROL", filter: string) {
  const replay = bus.replay({ stream, filterSubjects: [filter], start: "all", stopAtEnd: true });
  const out = [];
  for await (const message of replay) out.push(message);
  return out;
}

/** Prometheus text format → value of one series (labels as written, e.g. `{source="proposer"}`). */
async function metric(process: RoleProcess, series: string): Promise<number> {
  const text = await (await fetch(process.metricsUrl)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** An upper bound of a histogram's q-quantile: the smallest bucket holding it. */
async function histogramQuantile(process: RoleProcess, name: string, q: number): Promise<number> {
  const text = await (await fetch(process.metricsUrl)).text();
  const buckets = [...text.matchAll(new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`, "gm"))].map(
    (m) => ({
      le: m[1] === "+Inf" ? Number.POSITIVE_INFINITY : Number(m[1]),
      count: Number(m[2]),
    }),
  );
  const total = buckets.at(-1)?.count ?? 0;
  return buckets.find((b) => b.count >= q * total)?.le ?? Number.NaN;
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

describe("validators on NATS and Redis: executors vote, execute behind and are verified", () => {
  it("agree on every BankHash and on balances; a wrong minority is reported, a withheld UserBlock is repaired, a killed executor recovers", async () => {
    const WRONG_FROM = 100;
    const LAST = 112;
    const withheld = new Set<number>();
    let withholding = true;
    const cluster = await startCluster({
      2: { SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT: String(WRONG_FROM) },
      3: { SIMD23_FAULT_IGNORE_USER_BLOCKS_FROM: "proposer-1" },
    });
    const { ledger, genesis, clients, executors, verifierClient, bus } = cluster;
    // Proposer-1 serves its blocks for repair, except those of the withheld slots while withholding.
    const repair = await startRepairServer(ledger, (hash) => {
      const block = ledger.blocks.get(hash);
      return !(withholding && block !== undefined && withheld.has(slotOfUserBlockSlot(block.userBlockSlot)));
    });
    cluster.cleanups.push(repair.stop);
    await new ProposerDirectory(cluster.store, genesis).claim("e2e-proposer-1", repair.address, 300_000, 1);

    const faucet = deriveKeypair(cluster.seed, KEY_ROLES.faucet, 0);
    const users = [0, 1, 2].map(
      (i) => keypairFromSeed(sha256(utf8(`${cluster.namespace}/user/${i}`))).publicKey,
    );
    const expected = new Map<string, bigint>();
    const pay = (to: Uint8Array, lamports: bigint): void => {
      ledger.transfer(faucet, to, lamports);
      expected.set(toHex(to), (expected.get(toHex(to)) ?? 0n) + lamports);
    };
    const votedSlot = async (i: number): Promise<number> => (await clients[i]!.status()).votedSlot;

    // Everyone votes once the proposers' joins took effect (executor-3 repairing proposer-1's blocks).
    await expect
      .poll(async () => Math.min(...(await Promise.all([0, 1, 2, 3].map(votedSlot)))), POLL)
      .toBeGreaterThan(5);
    pay(users[0]!, 1_000n);
    pay(users[1]!, 2_500n);

    // A UserBlock withheld from executor-3: it waits on that fork while the others vote.
    const from = ledger.newestSlot + 2;
    for (let slot = from; slot < from + 3; slot++) withheld.add(slot);
    await expect.poll(async () => (await clients[3]!.status()).missingUserBlocks, POLL).toBeGreaterThan(0);
    await untilSlot(cluster, from + 6);
    await expect
      .poll(async () => (await clients[0]!.status()).votedSlot, POLL)
      .toBeGreaterThanOrEqual(from + 3);
    const stuck = await clients[3]!.status();
    expect(stuck.votedSlot).toBeLessThan(from);
    expect(stuck.missingUserBlocks).toBeGreaterThan(0);
    expect(await metric(executors[3]!, "simd23_executor_missing_user_blocks")).toBeGreaterThan(0);
    const repairsBefore = await metric(executors[3]!, 'simd23_executor_repairs_total{source="proposer"}');
    withholding = false;
    const releasedAt = Date.now();
    await expect.poll(() => votedSlot(3), POLL).toBeGreaterThan(from + 6);
    expect(await metric(executors[3]!, 'simd23_executor_repairs_total{source="proposer"}')).toBeGreaterThan(
      repairsBefore,
    );
    const votesOf3 = (await stored(bus, "VOTES", subjects.vote(genesis.validators[3]!.identity))).flatMap(
      (m) => {
        const opened = openVoteMessage(genesis, m.data);
        return opened.ok ? [{ slot: opened.vote.vote.slot, time: m.time.getTime() }] : [];
      },
    );
    const onWithheldFork = votesOf3.filter((v) => v.slot >= from);
    expect(onWithheldFork.length).toBeGreaterThan(0);
    expect(onWithheldFork.every((v) => v.time >= releasedAt)).toBe(true);

    // kill -9 executor-1 mid-run; it restarts from its snapshot and the stream.
    pay(users[2]!, 777n);
    await expect.poll(async () => (await clients[1]!.status()).root, POLL).toBeGreaterThan(0);
    const killedAt = (await clients[1]!.status()).executedSlot;
    await executors[1]!.kill();
    await untilSlot(cluster, ledger.newestSlot + 8);
    await executors[1]!.restart();
    await executors[1]!.waitHealthy(60_000);
    await expect
      .poll(async () => (await clients[1]!.status()).votedSlot, POLL)
      .toBeGreaterThan(ledger.newestSlot - 2);
    expect(readFileSync(executors[1]!.logFile, "utf8")).toContain("restarting from a bank snapshot");

    // Load: 100 transfers a slot for 8 slots, then run past the faulty validator's first wrong slot.
    const loadFrom = ledger.newestSlot + 1;
    for (let slot = loadFrom; slot < loadFrom + 8; slot++) {
      await untilSlot(cluster, slot);
      // Distinct amounts: two batches naming the same blockhash must not repeat a transaction.
      for (let n = 0; n < 100; n++) pay(users[n % 3]!, BigInt(1 + n + 100 * (slot - loadFrom)));
    }
    // The last batch is in the slot after the loop: run on past it and past the faulty slots.
    await untilSlot(cluster, Math.max(LAST, loadFrom + 10));
    cluster.stopLedger.abort();
    await cluster.ledgerRunning;

    // The verifier's tallies: every honest validator matched every slot; validator-2 from WRONG_FROM on.
    const wrong = toHex(genesis.validators[2]!.identity);
    const last = ledger.newestSlot;
    await expect.poll(async () => (await verifierClient.status()).verifiedSlot, POLL).toBe(last);
    for (let slot = 1; slot <= last; slot++) {
      const { tally, known, mismatchedValidators } = await verifierClient.slotTally(slot);
      expect(known).toBe(true);
      const quarter = tally!.total / 4n;
      if (slot < WRONG_FROM) {
        expect([slot, tally!.matched, mismatchedValidators.length]).toEqual([slot, tally!.total, 0]);
      } else {
        expect([slot, tally!.matched, tally!.mismatched]).toEqual([slot, 3n * quarter, quarter]);
        expect(mismatchedValidators.map(toHex)).toEqual([wrong]);
      }
    }
    expect((await verifierClient.status()).halted).toBe(false);
    const mismatches = (await stored(bus, "CONTROL", subjects.mismatch)).map((m) => {
      const opened = openEnvelope(genesis, m.data, EnvelopeKind.KIND_MISMATCH_REPORT);
      if (!opened.ok) throw opened.error;
      return control.MismatchReport.decode(opened.envelope.body);
    });
    expect(new Set(mismatches.flatMap((r) => r.evidence.map((e) => toHex(e.validator))))).toEqual(
      new Set([wrong]),
    );
    expect(Math.min(...mismatches.map((r) => r.slot))).toBe(WRONG_FROM);
    expect((await clients[2]!.status()).deadSlots).toContain(WRONG_FROM);
    expect(
      await metric(cluster.verifier, 'simd23_bank_hash_verifier_mismatches_total{validator="validator-2"}'),
    ).toBeGreaterThan(0);

    // Balances: every executor, validator-2 included (its state is right, only its hash is perturbed).
    for (const client of clients) {
      await expect.poll(async () => (await client.status()).executedSlot, POLL).toBe(last);
      for (const user of users) {
        const account = await client.account(user);
        expect([toHex(user), account.lamports]).toEqual([toHex(user), expected.get(toHex(user))]);
      }
    }

    // Executor-1 reported each slot once: what it re-executed after the restart was identical.
    const reportsOf1 = (
      await stored(bus, "BANKHASHES", subjects.bankHashReport(genesis.validators[1]!.identity))
    ).map((m) => {
      const opened = openBankHashReportMessage(genesis, m.data);
      if (!opened.ok) throw new Error(opened.detail);
      return opened.report.slot;
    });
    expect(new Set(reportsOf1).size).toBe(reportsOf1.length);
    expect(Math.max(...reportsOf1)).toBeGreaterThan(killedAt);

    // Measured: vote latency after slot end, execution lag, slot execution time.
    const votes = (await stored(bus, "VOTES", subjects.allVotes)).flatMap((m) => {
      const opened = openVoteMessage(genesis, m.data);
      return opened.ok ? [{ vote: opened.vote, time: m.time.getTime() }] : [];
    });
    const latencies = votes
      .filter((v) => v.vote.vote.slot >= loadFrom - 4)
      .map(({ vote, time }) => time - slotStartMs(genesis.timing, vote.vote.slot + 1));
    const lags = votes
      .filter((v) => v.vote.bankHash !== null && v.vote.vote.slot >= loadFrom - 4)
      .map((v) => v.vote.vote.slot - v.vote.bankHash!.slot);
    const executionSum = await metric(executors[0]!, "simd23_executor_slot_execution_seconds_sum");
    const executionCount = await metric(executors[0]!, "simd23_executor_slot_execution_seconds_count");
    console.log(
      JSON.stringify({
        votes: votes.length,
        voteLatencyMs: {
          p50: quantile(latencies, 0.5),
          p90: quantile(latencies, 0.9),
          p99: quantile(latencies, 0.99),
        },
        executionLagSlotsInVotes: {
          p50: quantile(lags, 0.5),
          p99: quantile(lags, 0.99),
          max: Math.max(...lags),
        },
        slotExecutionMs: {
          mean: (1_000 * executionSum) / executionCount,
          p50AtMost:
            1_000 * (await histogramQuantile(executors[0]!, "simd23_executor_slot_execution_seconds", 0.5)),
          p99AtMost:
            1_000 * (await histogramQuantile(executors[0]!, "simd23_executor_slot_execution_seconds", 0.99)),
        },
      }),
    );
    expect(latencies.length).toBeGreaterThan(0);
  });

  it("halts when two of four validators compute wrong BankHashes, and nothing is produced after the halt", async () => {
    const WRONG_FROM = 8;
    const cluster = await startCluster({
      1: { SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT: String(WRONG_FROM) },
      3: { SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT: String(WRONG_FROM) },
    });
    const { bus, genesis, verifierClient } = cluster;
    await expect.poll(async () => (await verifierClient.status()).halted, POLL).toBe(true);
    const { halt } = await verifierClient.status();
    expect(halt?.slot).toBe(WRONG_FROM);
    expect(halt?.evidence.map((e) => toHex(e.validator))).toEqual(
      [1, 3].map((i) => toHex(genesis.validators[i]!.identity)),
    );
    const haltMessages = await stored(bus, "CONTROL", subjects.halt);
    expect(haltMessages).toHaveLength(1);

    for (const role of [cluster.verifier, ...cluster.executors]) {
      await expect.poll(() => role.health(), POLL).toBe("NOT_SERVING");
      await expect
        .poll(() => metric(role, `simd23_${role.options.role.replaceAll("-", "_")}_halted`), POLL)
        .toBe(1);
    }
    // Every role has seen the halt. The ledger goes on; no vote, report or verdict is stored any more.
    const allHaltedAt = Date.now();
    await untilSlot(cluster, cluster.ledger.newestSlot + 10);
    const inFlightMs = 500;
    const after = [
      ...(await stored(bus, "VOTES", subjects.allVotes)),
      ...(await stored(bus, "BANKHASHES", subjects.allBankHashReports)),
      ...(await stored(bus, "BANKHASHES", subjects.verdicts)),
    ].filter((m) => m.time.getTime() > allHaltedAt + inFlightMs);
    expect(after).toEqual([]);
    for (const client of cluster.clients) expect((await client.status()).halted).toBe(true);
  });

  it.runIf(existsSync(roleEntryPoint("leader")) && existsSync(roleEntryPoint("proposer")))(
    "follow the leader and proposer services: vote, execute transfers submitted to a proposer, and agree",
    async () => {
      const cluster = await startCluster({}, "services");
      const { genesis, clients, verifierClient, services } = cluster;
      const proposerClient = new proposer.ProposerServiceClient(
        services[1]!.grpcAddress,
        credentials.createInsecure(),
      );
      cluster.cleanups.push(async () => proposerClient.close());
      const call = <T>(invoke: (done: (error: ServiceError | null, value: T) => void) => void): Promise<T> =>
        new Promise((resolve, reject) => invoke((error, value) => (error ? reject(error) : resolve(value))));
      const faucet = deriveKeypair(cluster.seed, KEY_ROLES.faucet, 0);
      const users = [0, 1].map(
        (i) => keypairFromSeed(sha256(utf8(`${cluster.namespace}/user/${i}`))).publicKey,
      );
      const expected = new Map<string, bigint>();
      const submitted = new Set<string>();
      // Transfers are accepted once a proposer is scheduled: retry each until a proposer takes it.
      for (let n = 0; n < 20; n++) {
        const to = users[n % 2]!;
        const lamports = BigInt(100 + n);
        await expect
          .poll(async () => {
            const latest = await call<proposer.GetLatestBlockhashResponse>((done) =>
              proposerClient.getLatestBlockhash({}, new Metadata(), done),
            );
            const transaction = buildTransaction(
              {
                recentBlockhash: latest.blockhash,
                computeUnitLimit: 1_000,
                computeUnitPrice: 1n,
                instructions: [transferInstruction(0, to, lamports)],
              },
              [faucet],
              genesis.limits,
            ).wire;
            const accepted = await call<proposer.SubmitTransactionResponse>((done) =>
              proposerClient.submitTransaction({ transaction, forwarded: false }, new Metadata(), done),
            ).catch(() => undefined);
            if (accepted !== undefined) submitted.add(toHex(accepted.signature));
            return accepted !== undefined;
          }, POLL)
          .toBe(true);
        expected.set(toHex(to), (expected.get(toHex(to)) ?? 0n) + lamports);
      }
      for (const client of clients) {
        for (const user of users) {
          await expect
            .poll(async () => (await client.account(user)).lamports, POLL)
            .toBe(expected.get(toHex(user)));
        }
      }
      // Every slot the verifier tallied completely: all four validators on its BankHash.
      const verified = (await verifierClient.status()).verifiedSlot;
      expect(verified).toBeGreaterThan(0);
      for (let slot = 1; slot <= verified; slot++) {
        const { tally, known, mismatchedValidators } = await verifierClient.slotTally(slot);
        if (!known) continue;
        expect([slot, mismatchedValidators.length]).toEqual([slot, 0]);
        expect(tally!.mismatched).toBe(0n);
      }
      await expect
        .poll(async () => (await verifierClient.status()).verifiedSlot, POLL)
        .toBeGreaterThan(verified);
      const results = (await stored(cluster.bus, "BANKHASHES", subjects.verdicts)).flatMap((m) => {
        const opened = openEnvelope(genesis, m.data, EnvelopeKind.KIND_SLOT_VERDICT);
        return opened.ok ? control.SlotVerdict.decode(opened.envelope.body).results : [];
      });
      const ours = results.filter((r) => submitted.has(toHex(r.signature)));
      expect(ours.length).toBeGreaterThanOrEqual(20);
      expect(ours.every((r) => r.status === 1)).toBe(true);
    },
  );
});
