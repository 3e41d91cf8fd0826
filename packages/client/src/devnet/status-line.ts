// The devnet's live status line, read from the roles' Prometheus endpoints (docs/metrics.md):
// the same figures the dashboards show, with no client of its own to keep open.

/** One sample: `name{labels} value`, labels parsed. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text exposition into samples (comments and malformed lines are skipped). */
export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE_LINE.exec(line.trim());
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[3] ?? "").matchAll(LABEL))
      labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    const value = Number(match[4]);
    if (!Number.isNaN(value) || match[4] === "NaN") samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** The value of the first sample named `name` whose labels include `labels`, or undefined. */
export function sampleValue(
  samples: readonly MetricSample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  return samples.find(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  )?.value;
}

/** A role replica whose metrics the status line reads. */
export interface StatusTarget {
  readonly name: string;
  readonly metricsUrl: string;
}

export interface DevnetStatusTargets {
  readonly proposers: readonly StatusTarget[];
  readonly executors: readonly StatusTarget[];
  readonly leaders: readonly StatusTarget[];
  readonly voteAggregator: StatusTarget | undefined;
  readonly bankHashVerifier: StatusTarget | undefined;
}

/** What the status line shows; a figure is null when the role that knows it did not answer. */
export interface DevnetStatus {
  readonly takenAtMs: number;
  readonly slot: number | null;
  readonly optimisticSlot: number | null;
  readonly executedSlot: number | null;
  readonly finalizedSlot: number | null;
  /** UserBlocks each proposer built that the leader recorded. */
  readonly userBlocks: readonly { readonly name: string; readonly recorded: number | null }[];
  /** Transactions reaching `executed` per second over the sampling window. */
  readonly tps: number | null;
  /** The largest execution lag among the executors, in slots. */
  readonly executionLagSlots: number | null;
  /** The leader's newest tick drift, ms (its GetLeaderStatus figure is not a metric; the histogram's mean since the last sample is). */
  readonly tickDriftMs: number | null;
  /** Replicas whose `_halted` gauge is 1. */
  readonly halted: readonly string[];
  /** Replicas whose metrics endpoint did not answer. */
  readonly unreachable: readonly string[];
}

async function scrape(target: StatusTarget, timeoutMs: number): Promise<MetricSample[] | undefined> {
  try {
    const response = await fetch(target.metricsUrl, { signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return undefined;
    return parsePrometheusText(await response.text());
  } catch {
    return undefined;
  }
}

const RATE_WINDOW_MS = 10_000;

/**
 * Samples the roles' metrics into a DevnetStatus; rates (tps, tick drift) come from the
 * difference between samples, over the last ten seconds.
 */
export class DevnetStatusSampler {
  private readonly executedHistory: { atMs: number; count: number }[] = [];
  private lastDrift: { sum: number; count: number } | undefined;

  constructor(
    private readonly targets: () => DevnetStatusTargets,
    private readonly timeoutMs = 1_000,
  ) {}

  async sample(nowMs: () => number = Date.now): Promise<DevnetStatus> {
    const targets = this.targets();
    const all: { role: string; target: StatusTarget }[] = [
      ...targets.proposers.map((target) => ({ role: "proposer", target })),
      ...targets.executors.map((target) => ({ role: "executor", target })),
      ...targets.leaders.map((target) => ({ role: "leader", target })),
      ...(targets.voteAggregator ? [{ role: "vote_aggregator", target: targets.voteAggregator }] : []),
      ...(targets.bankHashVerifier ? [{ role: "bank_hash_verifier", target: targets.bankHashVerifier }] : []),
    ];
    const scraped = await Promise.all(all.map(({ target }) => scrape(target, this.timeoutMs)));
    const takenAtMs = nowMs();
    const byName = new Map(all.map(({ target }, i) => [target.name, scraped[i]]));
    const unreachable = all.filter((_, i) => scraped[i] === undefined).map(({ target }) => target.name);
    const halted = all
      .filter(({ role }, i) => {
        const samples = scraped[i];
        return samples !== undefined && sampleValue(samples, `simd23_${role}_halted`) === 1;
      })
      .map(({ target }) => target.name);

    const aggregator = targets.voteAggregator ? byName.get(targets.voteAggregator.name) : undefined;
    const gauge = (name: string) =>
      aggregator === undefined ? null : (sampleValue(aggregator, name) ?? null);

    const executed =
      aggregator === undefined
        ? undefined
        : (sampleValue(aggregator, "simd23_vote_aggregator_transactions_total", { level: "executed" }) ?? 0);
    let tps: number | null = null;
    if (executed !== undefined) {
      const history = this.executedHistory;
      // A counter that went down is a restarted aggregator: start the window again.
      if (history.length > 0 && executed < history[history.length - 1]!.count) history.length = 0;
      history.push({ atMs: takenAtMs, count: executed });
      while (history.length > 2 && history[0]!.atMs < takenAtMs - RATE_WINDOW_MS) history.shift();
      const first = history[0]!;
      tps = takenAtMs > first.atMs ? ((executed - first.count) * 1_000) / (takenAtMs - first.atMs) : 0;
    }

    const lags = targets.executors
      .map((target) => byName.get(target.name))
      .map((samples) =>
        samples === undefined ? undefined : sampleValue(samples, "simd23_executor_execution_lag_slots"),
      )
      .filter((lag): lag is number => lag !== undefined);

    let tickDriftMs: number | null = null;
    const leader = targets.leaders[0] === undefined ? undefined : byName.get(targets.leaders[0].name);
    if (leader !== undefined) {
      const sum = sampleValue(leader, "simd23_leader_tick_drift_seconds_sum") ?? 0;
      const count = sampleValue(leader, "simd23_leader_tick_drift_seconds_count") ?? 0;
      const last = this.lastDrift;
      if (last !== undefined && count > last.count)
        tickDriftMs = ((sum - last.sum) / (count - last.count)) * 1_000;
      this.lastDrift = { sum, count };
    }

    return {
      takenAtMs,
      slot: gauge("simd23_vote_aggregator_slot"),
      optimisticSlot: gauge("simd23_vote_aggregator_optimistic_slot"),
      executedSlot: gauge("simd23_vote_aggregator_executed_slot"),
      finalizedSlot: gauge("simd23_vote_aggregator_finalized_slot"),
      userBlocks: targets.proposers.map((target) => {
        const samples = byName.get(target.name);
        return {
          name: target.name,
          recorded:
            samples === undefined
              ? null
              : samples
                  .filter((s) => s.name === "simd23_proposer_user_blocks_recorded_total")
                  .reduce((sum, s) => sum + s.value, 0),
        };
      }),
      tps,
      executionLagSlots: lags.length === 0 ? null : Math.max(...lags),
      tickDriftMs,
      halted,
      unreachable,
    };
  }
}

const figure = (value: number | null): string => (value === null ? "?" : String(value));

/** `proposer-2` → `p2`, for a line that stays short with many proposers. */
function shortName(name: string): string {
  const match = /^(proposer|executor|leader)-(\d+)$/.exec(name);
  return match === null ? name : `${match[1]![0]}${match[2]}`;
}

function haltText(status: DevnetStatus): string {
  if (status.halted.length === 0) return "not halted";
  return status.halted.length > 3
    ? `HALTED (${status.halted.length} roles saw the halt)`
    : `HALTED (${status.halted.join(", ")})`;
}

/** The status as one line (the TTY line and the periodic plain line are the same text). */
export function formatStatusLine(status: DevnetStatus): string {
  const parts = [
    `slot ${figure(status.slot)}`,
    `optimistic ${figure(status.optimisticSlot)}`,
    `executed ${figure(status.executedSlot)}`,
    `finalized ${figure(status.finalizedSlot)}`,
    `UserBlocks ${status.userBlocks.map((p) => `${shortName(p.name)}:${figure(p.recorded)}`).join(" ") || "-"}`,
    `${status.tps === null ? "?" : status.tps.toFixed(1)} tps`,
    `lag ${figure(status.executionLagSlots)} slots`,
    ...(status.tickDriftMs === null ? [] : [`drift ${status.tickDriftMs.toFixed(1)} ms`]),
    haltText(status),
  ];
  if (status.unreachable.length > 0) parts.push(`no answer: ${status.unreachable.join(", ")}`);
  return parts.join(" | ");
}

/** The status as JSON (one object a line with --json). */
export function statusJson(status: DevnetStatus): Record<string, unknown> {
  return {
    time: new Date(status.takenAtMs).toISOString(),
    slot: status.slot,
    optimisticSlot: status.optimisticSlot,
    executedSlot: status.executedSlot,
    finalizedSlot: status.finalizedSlot,
    userBlocks: Object.fromEntries(status.userBlocks.map((p) => [p.name, p.recorded])),
    tps: status.tps === null ? null : Number(status.tps.toFixed(1)),
    executionLagSlots: status.executionLagSlots,
    tickDriftMs: status.tickDriftMs === null ? null : Number(status.tickDriftMs.toFixed(2)),
    halted: status.halted,
    unreachable: status.unreachable,
  };
}
