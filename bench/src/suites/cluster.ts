import {
  connect,
  generateKeypair,
  type LatencySummary,
  latencySummary,
  loadDevnet,
  readGenesisFile,
  type Simd23Client,
} from "@simd23/client";
import { BenchDevnet, type DevnetReplica, type DevnetRole, until } from "../devnet.js";
import { ed25519VerifyCost } from "../ed25519.js";
import {
  type Figure,
  formatRatio,
  formatValue,
  type Plot,
  type Suite,
  type SuiteContext,
  type SuiteResult,
  sleep,
  type Table,
} from "../harness.js";
import { fundPayers, LoadDriver, MEASURED_LEVELS, type MeasuredLevel, type SentPoint } from "../load.js";
import {
  addHistograms,
  EMPTY_HISTOGRAM,
  type Histogram,
  histogramDelta,
  histogramOf,
  histogramQuantile,
  metricValue,
  processCpuSeconds,
  type Sample,
  scrape,
} from "../prometheus.js";
import { type LineSeries, type Panel, svgDocument } from "../svg.js";

// SIMD-0023 against today's design on the same machine: the devnet (`simd23 devnet`, every
// role its own process on NATS and Redis) in async mode and in sync mode (docs/protocol.d/
// 17-sync-mode.md: the leader executes before it records, validators execute before they
// vote), driven by the same load at the same cluster size. One devnet per mode, the same plan
// of points in the same order: proposers scaled 1 → 2 → 4 → 8 at the base rate, and at the base
// proposer count a few offered rates. Every point starts with nothing in flight and ends when
// every accepted transaction is finalized (or dropped).

type Mode = "async" | "sync";
const MODES: readonly Mode[] = ["async", "sync"];

function listFromEnv(name: string, fallback: readonly number[]): number[] {
  const text = process.env[name];
  if (text === undefined || text.trim() === "") return [...fallback];
  const values = text.split(",").map((part) => Number(part.trim()));
  if (values.some((v) => !Number.isFinite(v) || v <= 0))
    throw new Error(`${name}: expected a comma-separated list of positive numbers, got "${text}"`);
  return values;
}

const VALIDATORS = 4;
const PROPOSER_COUNTS = listFromEnv("SIMD23_BENCH_PROPOSERS", [1, 2, 4, 8]);
const RATES = listFromEnv("SIMD23_BENCH_RATES", [50, 100, 200]);
const POINT_SECONDS = listFromEnv("SIMD23_BENCH_POINT_SECONDS", [4])[0]!;
/** The point the two modes are compared at: the middle rate, the second proposer count. */
const BASE_RATE = RATES[Math.floor(RATES.length / 2)]!;
const BASE_PROPOSERS = PROPOSER_COUNTS[Math.min(1, PROPOSER_COUNTS.length - 1)]!;
const PAYERS = 64;
const PAYER_LAMPORTS = 1_000_000_000n;
/** Idle CPU is measured once per proposer count, over two halves of this, before its first point. */
const IDLE_MS = 4_000;
const LAG_SAMPLE_MS = 500;
const EXECUTED_TIMEOUT_MS = 30_000;
const FINALIZED_TIMEOUT_MS = 45_000;
const ROUTING_TIMEOUT_MS = 90_000;
const ROLES: readonly DevnetRole[] = [
  "proposer",
  "leader",
  "executor",
  "vote-aggregator",
  "bank-hash-verifier",
];

interface PlannedPoint {
  readonly proposers: number;
  readonly rate: number;
}

/** Proposer counts in rising order (scaling up only); the base count also runs every rate. */
function plan(): PlannedPoint[] {
  return [...new Set(PROPOSER_COUNTS)]
    .sort((a, b) => a - b)
    .flatMap((proposers) =>
      proposers === BASE_PROPOSERS
        ? [...new Set(RATES)].sort((a, b) => a - b).map((rate) => ({ proposers, rate }))
        : [{ proposers, rate: BASE_RATE }],
    );
}

interface PointResult {
  readonly mode: Mode;
  readonly proposers: number;
  readonly rate: number;
  readonly sent: number;
  readonly accepted: number;
  readonly refused: Readonly<Record<string, number>>;
  readonly failed: Readonly<Record<string, number>>;
  readonly dropped: Readonly<Record<string, number>>;
  readonly results: Readonly<Record<string, number>>;
  readonly notExecuted: number;
  readonly notFinalized: number;
  readonly acceptedPerSecond: number;
  readonly executedPerSecond: number;
  readonly latency: Readonly<Record<MeasuredLevel, LatencySummary>>;
  readonly vote: {
    readonly count: number;
    readonly meanMs: number;
    readonly p50Ms: number;
    readonly p99Ms: number;
  };
  readonly lag: { readonly max: number; readonly mean: number };
  /** CPU over the loaded window by role (every replica of it); `client` is this process. */
  readonly cpu: Readonly<Record<CpuHolder, WindowCpu>>;
  /** Where the time to `recorded` goes: the proposer's answer (client clock) and `proposed` (async only). */
  readonly intake: { readonly answered: LatencySummary; readonly proposed: LatencySummary };
  readonly blocks: BlockCounts;
  readonly pohHashesPerSecond: number;
  /** The loaded window: first submission until every transaction executed, plus a slot. */
  readonly windowSeconds: number;
  readonly seconds: number;
}

type CpuHolder = DevnetRole | "client";
const CPU_HOLDERS: readonly CpuHolder[] = [...ROLES, "client"];

/** CPU seconds of a role's processes over a point's loaded window. */
interface WindowCpu {
  /** Everything they used, idle work (PoH ticks, timers, scrapes) included. */
  readonly total: number;
  /** Their idle rate times the window: the share the transactions did not cause. */
  readonly idle: number;
  /**
   * Half the difference between the idle rates of the two halves of the idle window, times the
   * window: how well the idle share is known. A cost above idle smaller than this is not reported.
   */
  readonly idleSpread: number;
}

/** What the proposers and leaders counted over a point (deltas of their counters). */
interface BlockCounts {
  readonly built: number;
  readonly recorded: number;
  readonly missed: number;
  readonly requeued: number;
  readonly refused: Readonly<Record<string, number>>;
  readonly skippedSlots: number;
}

/** Each role's idle CPU rate (CPU seconds per second, every replica of it) with its spread. */
interface IdleRates {
  readonly proposers: number;
  readonly rate: Readonly<Record<CpuHolder, number>>;
  readonly spread: Readonly<Record<CpuHolder, number>>;
}

interface ModeRun {
  readonly mode: Mode;
  readonly readySeconds: number;
  readonly genesisPohRate: number;
  readonly slotMs: number;
  readonly points: PointResult[];
  readonly idle: IdleRates[];
  readonly problems: string[];
}

const count = (counts: Readonly<Record<string, number>>) => Object.values(counts).reduce((a, b) => a + b, 0);
const describeCounts = (counts: Readonly<Record<string, number>>) =>
  Object.entries(counts)
    .map(([key, n]) => `${key} ${n}`)
    .join(", ") || "none";

async function scrapeAll(replicas: readonly DevnetReplica[]): Promise<Map<string, Sample[]>> {
  const scraped = await Promise.all(
    replicas.map(async (r) => [r.name, await scrape(r.metricsUrl).catch(() => [] as Sample[])] as const),
  );
  return new Map(scraped);
}

/** The load client's entry in the CPU maps (this process). */
const CLIENT = "client";

const holderOf = (replicas: readonly DevnetReplica[], name: string): CpuHolder =>
  name === CLIENT ? "client" : replicas.find((r) => r.name === name)!.role;

function holderRecord<T>(value: (holder: CpuHolder) => T): Record<CpuHolder, T> {
  return Object.fromEntries(CPU_HOLDERS.map((holder) => [holder, value(holder)])) as Record<CpuHolder, T>;
}

/** CPU seconds used so far by every replica and by this process (CLIENT). */
function cpuOf(replicas: readonly DevnetReplica[]): Map<string, number> {
  const usage = process.cpuUsage();
  return new Map([
    ...replicas.map((r) => [r.name, processCpuSeconds(r.pid) ?? Number.NaN] as const),
    [CLIENT, (usage.user + usage.system) / 1e6] as const,
  ]);
}

/**
 * Each process's idle CPU rate: IDLE_MS with nothing in flight, the lag sampler scraping as it
 * does during a point (its cost is idle work, not the transactions'). The window is cut in two
 * halves; the difference of their rates says how steady the idle work is.
 */
async function measureIdle(
  proposers: number,
  replicas: readonly DevnetReplica[],
  signal: AbortSignal,
): Promise<IdleRates> {
  const lag = sampleLag(replicas.filter((r) => r.role === "executor"));
  try {
    const half = async () => {
      const startMs = performance.now();
      const start = cpuOf(replicas);
      await sleep(IDLE_MS / 2, signal);
      const end = cpuOf(replicas);
      const seconds = (performance.now() - startMs) / 1000;
      const rates = holderRecord(() => 0);
      for (const [name, cpu] of end) rates[holderOf(replicas, name)] += (cpu - start.get(name)!) / seconds;
      return rates;
    };
    const first = await half();
    const second = await half();
    return {
      proposers,
      rate: holderRecord((holder) => (first[holder] + second[holder]) / 2),
      spread: holderRecord((holder) => Math.abs(first[holder] - second[holder]) / 2),
    };
  } finally {
    await lag.stop();
  }
}

const counter = (samples: Map<string, Sample[]>, name: string, labels: Record<string, string> = {}) =>
  [...samples.values()].reduce((total, s) => total + (metricValue(s, name, labels) ?? 0), 0);

function blockCounts(before: Map<string, Sample[]>, after: Map<string, Sample[]>): BlockCounts {
  const delta = (name: string, labels: Record<string, string> = {}) =>
    counter(after, name, labels) - counter(before, name, labels);
  const reasons = new Set(
    [...after.values()].flatMap((samples) =>
      samples
        .filter((s) => s.name === "simd23_leader_user_blocks_refused_total" && s.labels.reason !== undefined)
        .map((s) => s.labels.reason!),
    ),
  );
  const refused: Record<string, number> = {};
  for (const reason of reasons) {
    const n = delta("simd23_leader_user_blocks_refused_total", { reason });
    if (n > 0) refused[reason] = n;
  }
  return {
    built: delta("simd23_proposer_user_blocks_built_total"),
    recorded: delta("simd23_proposer_user_blocks_recorded_total"),
    missed: delta("simd23_proposer_user_blocks_missed_total"),
    requeued: delta("simd23_proposer_transactions_requeued_total"),
    refused,
    skippedSlots: delta("simd23_leader_slots_skipped_total"),
  };
}

function voteHistogram(samples: Map<string, Sample[]>, executors: readonly DevnetReplica[]): Histogram {
  return addHistograms(
    executors.map(
      (e) =>
        histogramOf(samples.get(e.name) ?? [], "simd23_executor_vote_latency_seconds") ?? EMPTY_HISTOGRAM,
    ),
  );
}

/**
 * Scrapes every executor's execution lag every LAG_SAMPLE_MS until stopped, keeping the values
 * sampled after record() was called. It runs through the idle window as well, so the CPU its
 * scrapes cost the executors (and this process) is part of their idle rate, not charged to the
 * transactions.
 */
function sampleLag(executors: readonly DevnetReplica[]): {
  record(): void;
  stop(): Promise<{ max: number; mean: number }>;
} {
  const values: number[] = [];
  let running = true;
  let recording = false;
  const loop = (async () => {
    while (running) {
      const scraped = await scrapeAll(executors);
      if (recording)
        for (const samples of scraped.values()) {
          const lag = metricValue(samples, "simd23_executor_execution_lag_slots");
          if (lag !== undefined) values.push(lag);
        }
      await sleep(LAG_SAMPLE_MS);
    }
  })();
  return {
    record() {
      recording = true;
    },
    async stop() {
      running = false;
      await loop;
      return {
        max: values.length === 0 ? Number.NaN : Math.max(...values),
        mean: values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length,
      };
    },
  };
}

/**
 * Waits until every proposer answers, is scheduled, and sees `count` proposers in its routing set;
 * on timeout the error says what each proposer last answered.
 */
async function waitForRouting(client: Simd23Client, count: number, signal: AbortSignal): Promise<void> {
  let last = "no answer";
  try {
    await until(
      `${count} proposers in every proposer's routing set`,
      async () => {
        const statuses = await client.getProposerStatuses();
        last = statuses
          .map((s) =>
            s.ok
              ? `${s.value.identity.slice(0, 8)}: ${s.value.scheduled ? "scheduled" : "not scheduled"}, ` +
                `${s.value.activeProposers.length} active, queue ${s.value.queueDepth}`
              : "no answer",
          )
          .join("; ");
        const ready =
          statuses.length === count &&
          statuses.every((s) => s.ok && s.value.scheduled && s.value.activeProposers.length === count);
        return ready ? true : undefined;
      },
      ROUTING_TIMEOUT_MS,
      signal,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${last}`);
  }
}

function summarize(
  mode: Mode,
  planned: PlannedPoint,
  point: SentPoint,
  slotMs: number,
): Omit<PointResult, "vote" | "lag" | "cpu" | "blocks" | "pohHashesPerSecond" | "windowSeconds" | "seconds"> {
  const accepted = point.transactions.filter((t) => t.accepted);
  const summaryOf = (level: MeasuredLevel | "proposed") =>
    latencySummary(
      accepted
        .filter((t) => t.levels[level] !== undefined)
        .map((t) => Math.max(0, t.levels[level]! - t.sentAtMs)),
    );
  const latency = Object.fromEntries(MEASURED_LEVELS.map((level) => [level, summaryOf(level)])) as Record<
    MeasuredLevel,
    LatencySummary
  >;
  const intake = {
    answered: latencySummary(
      point.transactions
        .filter((t) => t.answeredAtMs !== null)
        .map((t) => Math.max(0, t.answeredAtMs! - t.sentAtMs)),
    ),
    proposed: summaryOf("proposed"),
  };
  const executedTimes = accepted
    .map((t) => t.levels.executed)
    .filter((time): time is number => time !== undefined);
  // Executions come a slot at a time: the span from the first to the last is one slot short.
  const executedSpanSeconds =
    executedTimes.length === 0
      ? Number.NaN
      : (Math.max(...executedTimes) - Math.min(...executedTimes) + slotMs) / 1000;
  const dropped: Record<string, number> = {};
  const results: Record<string, number> = {};
  for (const t of accepted) {
    if (t.droppedReason !== null) dropped[t.droppedReason] = (dropped[t.droppedReason] ?? 0) + 1;
    if (t.result !== null) results[t.result] = (results[t.result] ?? 0) + 1;
  }
  return {
    mode,
    proposers: planned.proposers,
    rate: planned.rate,
    sent: point.transactions.length,
    accepted: accepted.length,
    refused: point.refused,
    failed: point.failed,
    dropped,
    results,
    notExecuted: accepted.filter((t) => t.levels.executed === undefined).length,
    notFinalized: accepted.filter((t) => t.levels.finalized === undefined).length,
    acceptedPerSecond: (accepted.length * 1000) / Math.max(1, point.lastAnswerMs - point.firstSentMs),
    executedPerSecond: executedTimes.length / executedSpanSeconds,
    latency,
    intake,
  };
}

/**
 * The loaded part of a point: the load, until every accepted transaction executed and one more
 * slot passed (the votes on the last one). CPU is counted over that window; the aggregator's work
 * when the transactions finalize, 32 slots later, falls outside it.
 */
async function loadWindow(
  planned: PlannedPoint,
  replicas: readonly DevnetReplica[],
  idle: IdleRates,
  client: Simd23Client,
  driver: LoadDriver,
  slotMs: number,
  startRecording: () => void,
  context: SuiteContext,
) {
  const { signal } = context;
  const before = await scrapeAll(replicas);
  const cpuStart = cpuOf(replicas);
  const startMs = performance.now();
  startRecording();
  const sent = await driver.send(client, planned.rate, POINT_SECONDS, signal);
  const executedWithin = await driver.settle(sent, "executed", EXECUTED_TIMEOUT_MS, signal);
  await sleep(slotMs, signal);
  const cpuEnd = cpuOf(replicas);
  const loadSeconds = (performance.now() - startMs) / 1000;
  const after = await scrapeAll(replicas);
  const total = holderRecord(() => 0);
  for (const [name, end] of cpuEnd) total[holderOf(replicas, name)] += end - cpuStart.get(name)!;
  const cpu = holderRecord<WindowCpu>((holder) => ({
    total: total[holder],
    idle: idle.rate[holder] * loadSeconds,
    idleSpread: idle.spread[holder] * loadSeconds,
  }));
  return { sent, executedWithin, before, after, cpu, startMs, loadSeconds };
}

/** Runs a point's loaded window; returns what finishes it (waiting until its transactions are finalized). */
async function measurePoint(
  mode: Mode,
  planned: PlannedPoint,
  devnet: BenchDevnet,
  idle: IdleRates,
  driver: LoadDriver,
  slotMs: number,
  context: SuiteContext,
): Promise<() => Promise<PointResult>> {
  const replicas = devnet.replicas();
  const executors = replicas.filter((r) => r.role === "executor");
  const leaders = replicas.filter((r) => r.role === "leader");
  const client = connect(loadDevnet(devnet.devnetFilePath).options);
  try {
    const lag = sampleLag(executors);
    let window: Awaited<ReturnType<typeof loadWindow>>;
    try {
      window = await loadWindow(planned, replicas, idle, client, driver, slotMs, () => lag.record(), context);
    } catch (error) {
      await lag.stop();
      throw error;
    }
    const lagSummary = await lag.stop();
    return () => finishPoint(mode, planned, window, lagSummary, executors, leaders, driver, slotMs, context);
  } finally {
    client.close();
  }
}

/** Waits until the point's transactions are finalized, then sums it up. */
async function finishPoint(
  mode: Mode,
  planned: PlannedPoint,
  window: Awaited<ReturnType<typeof loadWindow>>,
  lagSummary: { max: number; mean: number },
  executors: readonly DevnetReplica[],
  leaders: readonly DevnetReplica[],
  driver: LoadDriver,
  slotMs: number,
  context: SuiteContext,
): Promise<PointResult> {
  const { sent, before, after, loadSeconds } = window;
  {
    const finalizedWithin = await driver.settle(sent, "finalized", FINALIZED_TIMEOUT_MS, context.signal);
    const seconds = (performance.now() - window.startMs) / 1000;
    await driver.sweep(sent);
    driver.forget(sent);

    const summary = summarize(mode, planned, sent, slotMs);
    const vote = histogramDelta(voteHistogram(after, executors), voteHistogram(before, executors));
    const hashes = (samples: Map<string, Sample[]>) =>
      leaders.reduce(
        (total, l) => total + (metricValue(samples.get(l.name) ?? [], "simd23_leader_poh_hashes_total") ?? 0),
        0,
      );
    const result: PointResult = {
      ...summary,
      vote: {
        count: vote.count,
        meanMs: vote.count > 0 ? (vote.sum / vote.count) * 1000 : Number.NaN,
        p50Ms: (histogramQuantile(vote, 0.5) ?? Number.NaN) * 1000,
        p99Ms: (histogramQuantile(vote, 0.99) ?? Number.NaN) * 1000,
      },
      lag: lagSummary,
      cpu: window.cpu,
      blocks: blockCounts(before, after),
      pohHashesPerSecond: (hashes(after) - hashes(before)) / loadSeconds,
      windowSeconds: loadSeconds,
      seconds,
    };
    context.log(
      `cluster ${mode}, ${planned.proposers} proposers, ${planned.rate} tx/s: accepted ${result.accepted}/${result.sent} ` +
        `(${result.acceptedPerSecond.toFixed(0)}/s), executed ${result.executedPerSecond.toFixed(0)}/s, p50 answered ` +
        `${result.intake.answered.p50Ms} ms, proposed ${result.intake.proposed.p50Ms} ms, recorded ` +
        `${result.latency.recorded.p50Ms} ms, executed ${result.latency.executed.p50Ms} ms, finalized ` +
        `${result.latency.finalized.p50Ms} ms; blocks built ${result.blocks.built}, missed ${result.blocks.missed}, ` +
        `requeued ${result.blocks.requeued}, refused ${describeCounts(result.blocks.refused)}` +
        `${window.executedWithin ? "" : ", NOT ALL EXECUTED"}${finalizedWithin ? "" : ", NOT ALL FINALIZED"} ` +
        `(${seconds.toFixed(0)} s)`,
    );
    return result;
  }
}

async function runMode(mode: Mode, context: SuiteContext): Promise<ModeRun> {
  const points = plan();
  const devnet = await BenchDevnet.start(
    {
      mode,
      validators: VALIDATORS,
      proposers: points[0]!.proposers,
      natsUrl: context.natsUrl,
      redisUrl: context.redisUrl,
      log: context.log,
    },
    context.signal,
  );
  context.log(`cluster ${mode}: devnet ready in ${devnet.readySeconds.toFixed(1)} s`);
  const results: PointResult[] = [];
  const idle: IdleRates[] = [];
  const notes: string[] = [];
  let driver: LoadDriver | undefined;
  let follower: Simd23Client | undefined;
  let problems: string[] = [];
  let timing: { slotMs: number; genesisPohRate: number };
  try {
    const genesis = readGenesisFile(devnet.file.genesisPath);
    timing = {
      slotMs: genesis.timing.slotDurationMs,
      genesisPohRate:
        (genesis.timing.hashesPerTick * genesis.timing.ticksPerSlot * 1000) / genesis.timing.slotDurationMs,
    };
    follower = connect(loadDevnet(devnet.devnetFilePath).options);
    const payers = Array.from({ length: PAYERS }, generateKeypair);
    await fundPayers(follower, payers, PAYER_LAMPORTS);
    driver = new LoadDriver(follower, payers);
    for (const point of points) {
      let current = idle.at(-1);
      if (current?.proposers !== point.proposers) {
        // Two new proposers at a time: `devnet scale` gives each 30 s to report healthy, and on a
        // loaded 2-core machine four node processes booting at once can take longer.
        for (let count = current?.proposers; count !== undefined && count !== point.proposers; ) {
          count = count < point.proposers ? Math.min(point.proposers, count + 2) : point.proposers;
          const note = await devnet.scaleProposers(count, context.signal);
          if (note !== undefined) {
            context.log(`cluster ${mode}: ${note}; waiting for it to join`);
            notes.push(note);
          }
        }
        // A client made now knows every proposer the devnet file lists after the scaling.
        const probe = connect(loadDevnet(devnet.devnetFilePath).options);
        try {
          await waitForRouting(probe, point.proposers, context.signal);
        } finally {
          probe.close();
        }
        current = await measureIdle(point.proposers, devnet.replicas(), context.signal);
        idle.push(current);
      }
      // Finalized before the next point starts, so its finalization work falls in no other window.
      const finish = await measurePoint(mode, point, devnet, current, driver, timing.slotMs, context);
      results.push(await finish());
    }
  } finally {
    await driver?.close();
    follower?.close();
    problems = await devnet.stop();
    if (devnet.unexpectedExits.length > 0)
      problems.push(`replicas exited unexpectedly: ${devnet.unexpectedExits.join(", ")}`);
    for (const problem of problems) context.log(`cluster ${mode}: ${problem}`);
  }
  return {
    mode,
    readySeconds: devnet.readySeconds,
    ...timing,
    points: results,
    idle,
    problems: [...notes, ...problems],
  };
}

// ---- the report ----

const LEVEL_TITLES: Readonly<Record<MeasuredLevel, string>> = {
  recorded: "recorded",
  optimistic: "optimistic",
  executed: "executed",
  finalized: "finalized",
};

const ms = (value: number | null) =>
  value === null || !Number.isFinite(value) ? "–" : `${Math.round(value)}`;
const pair = (a: number | null, b: number | null) => `${ms(a)} / ${ms(b)}`;

function pointAt(run: ModeRun, proposers: number, rate: number): PointResult | undefined {
  return run.points.find((p) => p.proposers === proposers && p.rate === rate);
}

function comparisonFigures(async: PointResult, sync: PointResult, genesisPohRate: number): Figure[] {
  const versus = (name: string, unit: string, a: number, s: number, note?: string): Figure => ({
    name,
    value: a,
    unit,
    baseline: { name: "sync", value: s },
    ...(note ? { note } : {}),
  });
  const figures: Figure[] = [];
  for (const level of MEASURED_LEVELS) {
    const a = async.latency[level];
    const s = sync.latency[level];
    figures.push(
      versus(
        `latency to ${level}, p50`,
        "ms",
        a.p50Ms ?? Number.NaN,
        s.p50Ms ?? Number.NaN,
        `${a.count} and ${s.count} transactions`,
      ),
      versus(`latency to ${level}, p99`, "ms", a.p99Ms ?? Number.NaN, s.p99Ms ?? Number.NaN),
    );
  }
  figures.push(
    versus(
      "vote latency after slot end, mean",
      "ms",
      async.vote.meanMs,
      sync.vote.meanMs,
      `${async.vote.count} and ${sync.vote.count} votes of ${VALIDATORS} executors; exact (histogram sum / count)`,
    ),
    versus(
      "vote latency after slot end, p50",
      "ms",
      async.vote.p50Ms,
      sync.vote.p50Ms,
      "interpolated within the histogram's buckets (0.1, 0.2, 0.4, 0.8 s …) as histogram_quantile does",
    ),
    versus(
      "vote latency after slot end, p99",
      "ms",
      async.vote.p99Ms,
      sync.vote.p99Ms,
      "interpolated within buckets",
    ),
    versus("accepted", "tx/s", async.acceptedPerSecond, sync.acceptedPerSecond, `offered ${async.rate} tx/s`),
    versus(
      "executed",
      "tx/s",
      async.executedPerSecond,
      sync.executedPerSecond,
      "executed transactions over the span of their execution times plus one slot",
    ),
    versus(
      "execution lag, max",
      "slots",
      async.lag.max,
      sync.lag.max,
      "simd23_executor_execution_lag_slots, sampled every 0.5 s",
    ),
    versus("execution lag, mean", "slots", async.lag.mean, sync.lag.mean),
    versus(
      "cluster CPU per accepted transaction, total",
      "µs",
      perTransaction(async, clusterCpu(async).total),
      perTransaction(sync, clusterCpu(sync).total),
      "every role process over the loaded window, idle work (PoH, timers, scrapes) included",
    ),
    versus(
      "cluster CPU per accepted transaction above idle",
      "µs",
      perTransaction(async, aboveIdle(clusterCpu(async))),
      perTransaction(sync, aboveIdle(clusterCpu(sync))),
      `total less the idle rate × the window; idle spread ±${formatValue(perTransaction(async, clusterCpu(async).idleSpread))} ` +
        `and ±${formatValue(perTransaction(sync, clusterCpu(sync).idleSpread))} µs; floored at 0`,
    ),
    versus(
      "cluster idle CPU",
      "% of a core",
      idlePercent(async),
      idlePercent(sync),
      `every role process with nothing in flight, ${IDLE_MS / 1000} s at ${async.proposers} proposers`,
    ),
    versus(
      "leader PoH during the load",
      "hashes/s",
      async.pohHashesPerSecond,
      sync.pohHashesPerSecond,
      `the genesis asks ${formatValue(genesisPohRate)} hashes/s`,
    ),
  );
  return figures;
}

/** Every role's CPU over the point's window (the load client not included). */
const clusterCpu = (point: PointResult): WindowCpu =>
  ROLES.reduce(
    (sum, role) => ({
      total: sum.total + point.cpu[role].total,
      idle: sum.idle + point.cpu[role].idle,
      idleSpread: sum.idleSpread + point.cpu[role].idleSpread,
    }),
    { total: 0, idle: 0, idleSpread: 0 },
  );
const perTransaction = (point: PointResult, seconds: number) => (seconds * 1e6) / Math.max(1, point.accepted);
/** CPU seconds above the idle rate, never negative: idle can be noisier than a light load. */
const aboveIdle = (cpu: WindowCpu) => Math.max(0, cpu.total - cpu.idle);
/** The cluster's idle rate during the point, in % of one core. */
const idlePercent = (point: PointResult) => (clusterCpu(point).idle / point.windowSeconds) * 100;

/**
 * µs per accepted transaction above idle, as text: `A ± S`, or `< B` when the cost above idle is
 * within the idle spread (it cannot be told from idle, only bounded).
 */
function aboveIdleText(point: PointResult, cpu: WindowCpu): string {
  const above = cpu.total - cpu.idle;
  if (!Number.isFinite(above) || !Number.isFinite(cpu.idleSpread)) return "–";
  if (above <= cpu.idleSpread)
    return `< ${formatValue(perTransaction(point, Math.max(0, above) + cpu.idleSpread))}`;
  return `${formatValue(perTransaction(point, above))} ± ${formatValue(perTransaction(point, cpu.idleSpread))}`;
}

function curveTable(
  title: string,
  rows: readonly { label: string; async?: PointResult; sync?: PointResult }[],
  note: string,
): Table {
  const cells = (p: PointResult | undefined): string[] =>
    p === undefined
      ? Array(10).fill("–")
      : [
          p.acceptedPerSecond.toFixed(0),
          p.executedPerSecond.toFixed(0),
          ...MEASURED_LEVELS.map((level) => pair(p.latency[level].p50Ms, p.latency[level].p99Ms)),
          pair(p.vote.p50Ms, p.vote.p99Ms),
          `${formatValue(p.lag.max)} / ${p.lag.mean.toFixed(2)}`,
          `${formatValue(perTransaction(p, clusterCpu(p).total))} / ${aboveIdleText(p, clusterCpu(p))}`,
          `${p.accepted}/${p.sent}${p.notFinalized > 0 ? `, ${p.notFinalized} not finalized` : ""}${count(p.dropped) > 0 ? `, ${count(p.dropped)} dropped` : ""}`,
        ];
  const ratios = (a: PointResult | undefined, s: PointResult | undefined): string[] => {
    if (a === undefined || s === undefined) return Array(10).fill("–");
    const r = (x: number | null, y: number | null) => (x === null || y === null ? "–" : formatRatio(x, y));
    return [
      r(a.acceptedPerSecond, s.acceptedPerSecond),
      r(a.executedPerSecond, s.executedPerSecond),
      ...MEASURED_LEVELS.map(
        (level) =>
          `${r(a.latency[level].p50Ms, s.latency[level].p50Ms)} / ${r(a.latency[level].p99Ms, s.latency[level].p99Ms)}`,
      ),
      `${r(a.vote.p50Ms, s.vote.p50Ms)} / ${r(a.vote.p99Ms, s.vote.p99Ms)}`,
      r(a.lag.max, s.lag.max),
      r(perTransaction(a, clusterCpu(a).total), perTransaction(s, clusterCpu(s).total)),
      "",
    ];
  };
  return {
    title,
    columns: [
      "",
      "mode",
      "accepted/s",
      "executed/s",
      ...MEASURED_LEVELS.map((level) => `${LEVEL_TITLES[level]} p50 / p99 ms`),
      "vote p50 / p99 ms",
      "lag max / mean slots",
      "CPU µs/tx: total / above idle",
      "accepted/sent",
    ],
    rows: rows.flatMap((row) => [
      [row.label, "async", ...cells(row.async)],
      [row.label, "sync", ...cells(row.sync)],
      [row.label, "async/sync", ...ratios(row.async, row.sync)],
    ]),
    note,
  };
}

/** CPU per accepted transaction by role at every offered rate of the base proposer count, both modes. */
function cpuTable(runs: readonly ModeRun[], verifyMicros: number): Table {
  const columns = runs.flatMap((run) =>
    run.points
      .filter((p) => p.proposers === BASE_PROPOSERS)
      .sort((a, b) => a.rate - b.rate)
      .map((p) => ({ label: `${run.mode}, ${p.rate} tx/s`, point: p })),
  );
  const row = (label: string, cpu: (p: PointResult) => WindowCpu) => [
    label,
    ...columns.map(
      ({ point }) =>
        `${aboveIdleText(point, cpu(point))} (${formatValue(perTransaction(point, cpu(point).total))})`,
    ),
  ];
  return {
    title: `CPU time per accepted transaction by role, µs: above idle ± idle spread (total), ${BASE_PROPOSERS} proposers`,
    columns: ["role (all its replicas)", ...columns.map((c) => c.label)],
    rows: [
      ...ROLES.map((role) => row(role, (p) => p.cpu[role])),
      row("cluster (every role)", clusterCpu),
      row("load client (this process)", (p) => p.cpu.client),
    ],
    note:
      "From /proc/<pid>/stat over each point's loaded window (first submission until every transaction executed, plus a " +
      "slot), divided by the accepted transactions. Total: everything the processes used in the window. Above idle: the " +
      `total less each process's idle rate (measured for ${IDLE_MS / 1000} s with nothing in flight after the devnet ` +
      "reached this proposer count) times the window; ± half the difference between the idle rates of the two halves of " +
      "that idle window, times the window. `< B`: the cost above idle is within that spread, so it is only bounded. The " +
      "aggregator's work when the transactions finalize (32 slots later) falls outside the window. One ed25519 verify " +
      `costs ${verifyMicros.toFixed(0)} µs of CPU here (node:crypto, cached KeyObject).`,
  };
}

/** Idle CPU by role, % of one core, at each proposer count of both modes. */
function idleTable(runs: readonly ModeRun[]): Table {
  const columns = runs.flatMap((run) =>
    run.idle.map((idle) => ({ label: `${run.mode}, ${idle.proposers} proposers`, idle })),
  );
  const percent = (rate: number, spread: number) =>
    `${(rate * 100).toFixed(1)} ± ${(spread * 100).toFixed(1)}`;
  const sumOver = (record: Readonly<Record<CpuHolder, number>>) =>
    ROLES.reduce((t, role) => t + record[role], 0);
  return {
    title:
      "Idle CPU by role, % of one core (± half the difference between the two halves of the idle window)",
    columns: ["role (all its replicas)", ...columns.map((c) => c.label)],
    rows: [
      ...ROLES.map((role) => [
        role,
        ...columns.map(({ idle }) => percent(idle.rate[role], idle.spread[role])),
      ]),
      [
        "cluster (every role)",
        ...columns.map(({ idle }) => percent(sumOver(idle.rate), sumOver(idle.spread))),
      ],
      [
        "load client (this process)",
        ...columns.map(({ idle }) => percent(idle.rate.client, idle.spread.client)),
      ],
    ],
    note:
      `${IDLE_MS / 1000} s with nothing in flight, measured once per proposer count (after scaling, before its first point), ` +
      "the lag sampler scraping the executors as during a point. The leader's share is mostly its PoH clock.",
  };
}

/** Where the time to `recorded` goes at every point: the earlier levels and what proposers and leaders counted. */
function intakeTable(runs: readonly ModeRun[]): Table {
  return {
    title: "Where the time to recorded goes, every point",
    columns: [
      "mode",
      "proposers",
      "offered tx/s",
      "answered p50 / p99 ms",
      "proposed p50 / p99 ms",
      "recorded p50 / p99 ms",
      "UserBlocks built / recorded / missed",
      "tx requeued",
      "UserBlocks refused by the leader",
      "slots skipped",
    ],
    rows: runs.flatMap((run) =>
      run.points.map((p) => [
        run.mode,
        String(p.proposers),
        String(p.rate),
        pair(p.intake.answered.p50Ms, p.intake.answered.p99Ms),
        pair(p.intake.proposed.p50Ms, p.intake.proposed.p99Ms),
        pair(p.latency.recorded.p50Ms, p.latency.recorded.p99Ms),
        `${p.blocks.built} / ${p.blocks.recorded} / ${p.blocks.missed}`,
        String(p.blocks.requeued),
        describeCounts(p.blocks.refused),
        String(p.blocks.skippedSlots),
      ]),
    ),
    note:
      "From submission, client clock for answered (the proposer's answer: stored durably in INTAKE, or refused), " +
      "the aggregator's time for the levels. proposed: its UserBlock was published (sync has no UserBlocks: there " +
      "`recorded` implies it, with the same time). Counters are the deltas of " +
      "simd23_proposer_user_blocks_{built,recorded,missed}_total, simd23_proposer_transactions_requeued_total, " +
      "simd23_leader_user_blocks_refused_total and simd23_leader_slots_skipped_total over the loaded window, every replica.",
  };
}

const COLORS: Readonly<Record<Mode, string>> = { async: "#1f77b4", sync: "#d62728" };
const DASHES: Readonly<Record<MeasuredLevel, string | undefined>> = {
  recorded: "2 3",
  optimistic: "6 3",
  executed: undefined,
  finalized: "10 3 2 3",
};

function latencyPlot(async: PointResult, sync: PointResult): Plot {
  const groups = [...MEASURED_LEVELS.map((l) => LEVEL_TITLES[l]), "vote (after slot end)"];
  const series = (p: PointResult, mode: Mode) => ({
    name: `${mode} p50 (whisker: p99)`,
    color: COLORS[mode],
    values: [...MEASURED_LEVELS.map((l) => p.latency[l].p50Ms), p.vote.p50Ms],
    whiskers: [...MEASURED_LEVELS.map((l) => p.latency[l].p99Ms), p.vote.p99Ms],
  });
  return {
    name: "latency",
    title: "Latency per confirmation level, async (SIMD-0023) against sync",
    svg: svgDocument(
      `Latency per level: async (SIMD-0023) vs sync, ${VALIDATORS} validators, ${async.proposers} proposers, ${async.rate} tx/s`,
      [
        {
          kind: "bars",
          chart: {
            title: "from submission (vote: from the slot's end)",
            groups,
            series: [series(async, "async"), series(sync, "sync")],
            yLabel: "ms (log scale)",
            logY: true,
          },
        },
      ],
      820,
      380,
      "p50 bars, p99 whiskers; vote latency from simd23_executor_vote_latency_seconds (bucket-interpolated)",
    ),
  };
}

function curvesPlot(runs: readonly ModeRun[]): Plot | undefined {
  const byProposers = (run: ModeRun) =>
    run.points.filter((p) => p.rate === BASE_RATE).sort((a, b) => a.proposers - b.proposers);
  const byRate = (run: ModeRun) =>
    run.points.filter((p) => p.proposers === BASE_PROPOSERS).sort((a, b) => a.rate - b.rate);
  if (runs.every((run) => byProposers(run).length < 2 && byRate(run).length < 2)) return undefined;
  const latencyLines = (
    select: (run: ModeRun) => PointResult[],
    x: (p: PointResult) => number,
  ): LineSeries[] =>
    runs.flatMap((run) =>
      (["recorded", "executed", "finalized"] as const).map((level) => ({
        name: `${run.mode} ${level}`,
        color: COLORS[run.mode],
        ...(DASHES[level] ? { dash: DASHES[level] } : {}),
        points: select(run).map((p) => [x(p), p.latency[level].p50Ms ?? Number.NaN] as const),
      })),
    );
  const panels: Panel[] = [
    {
      kind: "lines",
      chart: {
        title: `p50 latency vs proposers (${BASE_RATE} tx/s)`,
        xLabel: "proposers",
        yLabel: "ms (log scale)",
        series: latencyLines(byProposers, (p) => p.proposers),
        xTicks: [...new Set(PROPOSER_COUNTS)],
        logX: true,
        logY: true,
      },
    },
    {
      kind: "lines",
      chart: {
        title: `p50 latency vs offered load (${BASE_PROPOSERS} proposers)`,
        xLabel: "offered tx/s",
        yLabel: "ms (log scale)",
        series: latencyLines(byRate, (p) => p.rate),
        xTicks: [...new Set(RATES)],
        logX: true,
        logY: true,
      },
    },
    {
      kind: "lines",
      chart: {
        title: `throughput vs offered load (${BASE_PROPOSERS} proposers)`,
        xLabel: "offered tx/s",
        yLabel: "tx/s",
        series: [
          {
            name: "offered",
            color: "#999",
            dash: "2 3",
            points: [...new Set(RATES)].sort((a, b) => a - b).map((r) => [r, r] as const),
          },
          ...runs.flatMap((run) => [
            {
              name: `${run.mode} accepted`,
              color: COLORS[run.mode],
              dash: "6 3",
              points: byRate(run).map((p) => [p.rate, p.acceptedPerSecond] as const),
            },
            {
              name: `${run.mode} executed`,
              color: COLORS[run.mode],
              points: byRate(run).map((p) => [p.rate, p.executedPerSecond] as const),
            },
          ]),
        ],
        xTicks: [...new Set(RATES)],
      },
    },
    {
      kind: "lines",
      chart: {
        title: `vote latency after slot end vs load`,
        xLabel: "offered tx/s",
        yLabel: "ms",
        series: runs.flatMap((run) => [
          {
            name: `${run.mode} p50`,
            color: COLORS[run.mode],
            points: byRate(run).map((p) => [p.rate, p.vote.p50Ms] as const),
          },
          {
            name: `${run.mode} p99`,
            color: COLORS[run.mode],
            dash: "6 3",
            points: byRate(run).map((p) => [p.rate, p.vote.p99Ms] as const),
          },
        ]),
        xTicks: [...new Set(RATES)],
      },
    },
  ];
  return {
    name: "curves",
    title: "Cost curves: latency and throughput against proposers and offered load",
    svg: svgDocument("Cost curves, async (blue) vs sync (red)", panels, 420, 340),
  };
}

const suite: Suite = {
  name: "cluster",
  needs: ["nats", "redis"],
  description:
    `SIMD-0023 (async) against the synchronous baseline (sync: the leader executes before it records, validators execute ` +
    `before they vote; docs/protocol.md §17) on the same machine: one devnet per mode (\`simd23 devnet --mode\`, ` +
    `every role its own process on NATS and Redis, ${VALIDATORS} validators, the devnet's genesis), the same plan of points in ` +
    `the same order. At each proposer count, first ${IDLE_MS / 1000} s idle (the roles' idle CPU); each point: transfers sent open-loop for ` +
    `${POINT_SECONDS} s at the offered rate through the SDK (each to its fee payer's proposer, ${PAYERS} funded payers, ` +
    `unique memos, 16 priority fee levels), then waiting until every accepted one is finalized. Latency is from the ` +
    `client's submission to the time the vote aggregator stamped each level; vote latency and execution lag are the ` +
    `executors' own metrics over the point; CPU is every process's, from /proc. The baseline of each figure is sync mode ` +
    `(ratio = async / sync). Plan: proposers ${PROPOSER_COUNTS.join(", ")} at ${BASE_RATE} tx/s; offered ${RATES.join(", ")} ` +
    `tx/s at ${BASE_PROPOSERS} proposers; the modes are compared at ${BASE_PROPOSERS} proposers and ${BASE_RATE} tx/s.`,
  async run(context): Promise<SuiteResult> {
    const verify = await ed25519VerifyCost(500);
    const runs: ModeRun[] = [];
    for (const mode of MODES) runs.push(await runMode(mode, context));
    const [asyncRun, syncRun] = runs as [ModeRun, ModeRun];
    const asyncBase = pointAt(asyncRun, BASE_PROPOSERS, BASE_RATE);
    const syncBase = pointAt(syncRun, BASE_PROPOSERS, BASE_RATE);
    if (asyncBase === undefined || syncBase === undefined)
      throw new Error("the comparison point was not measured");
    const figures = comparisonFigures(asyncBase, syncBase, asyncRun.genesisPohRate);
    const counts = (run: ModeRun, p: PointResult) =>
      `${run.mode}: ready in ${run.readySeconds.toFixed(1)} s; at the comparison point sent ${p.sent}, accepted ${p.accepted}, ` +
      `refused ${describeCounts(p.refused)}, failed ${describeCounts(p.failed)}, dropped ${describeCounts(p.dropped)}, ` +
      `results ${describeCounts(p.results)}, not executed ${p.notExecuted}, not finalized ${p.notFinalized}` +
      `${run.problems.length > 0 ? `; problems: ${run.problems.join("; ")}` : ""}`;
    const curveRows = (select: (p: PointResult) => boolean, label: (p: PointResult) => string) =>
      asyncRun.points.filter(select).map((a) => ({
        label: label(a),
        async: a,
        sync: syncRun.points.find((s) => s.proposers === a.proposers && s.rate === a.rate),
      }));
    const tables: Table[] = [
      {
        title: "Runs",
        columns: ["mode", "what happened"],
        rows: [
          ["async", counts(asyncRun, asyncBase)],
          ["sync", counts(syncRun, syncBase)],
        ],
      },
      cpuTable(runs, verify.cpuMicrosecondsEach),
      idleTable(runs),
      curveTable(
        `Curve over proposers, ${BASE_RATE} tx/s offered`,
        curveRows(
          (p) => p.rate === BASE_RATE,
          (p) => `${p.proposers} proposers`,
        ),
        "Latency from submission, nearest-rank p50 / p99 over the accepted transactions that reached the level; vote latency " +
          "interpolated within the executors' histogram buckets; CPU per accepted transaction, every role process, idle CPU taken off.",
      ),
      curveTable(
        `Curve over offered load, ${BASE_PROPOSERS} proposers`,
        curveRows(
          (p) => p.proposers === BASE_PROPOSERS,
          (p) => `${p.rate} tx/s`,
        ),
        "As above; executed/s counts executed transactions over the span of their execution times plus one slot.",
      ),
    ];
    tables.push(intakeTable(runs));
    const plots = [latencyPlot(asyncBase, syncBase), curvesPlot(runs)].filter(
      (p): p is Plot => p !== undefined,
    );
    return { figures, tables, plots };
  },
};

export default suite;
