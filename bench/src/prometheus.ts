import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

// What the cluster bench reads from the roles: their Prometheus text (docs/metrics.md) and
// the CPU time of their processes (/proc, Linux).

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition (comments and blank lines skipped). */
export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = SAMPLE_LINE.exec(line.trim());
    if (match === null) continue;
    const labels: Record<string, string> = {};
    for (const label of (match[2] ?? "").matchAll(LABEL))
      labels[label[1]!] = label[2]!.replaceAll('\\"', '"').replaceAll("\\n", "\n").replaceAll("\\\\", "\\");
    const raw = match[3]!;
    const value =
      raw === "+Inf" ? Number.POSITIVE_INFINITY : raw === "-Inf" ? Number.NEGATIVE_INFINITY : Number(raw);
    samples.push({ name: match[1]!, labels, value });
  }
  return samples;
}

/** Fetches and parses a /metrics endpoint. */
export async function scrape(url: string, timeoutMs = 3_000): Promise<Sample[]> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!response.ok) throw new Error(`${url} answered ${response.status}`);
  return parsePrometheus(await response.text());
}

/** The sum of a metric's samples whose labels include `labels`; undefined when there is none. */
export function metricValue(
  samples: readonly Sample[],
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number | undefined {
  let total: number | undefined;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    if (Object.entries(labels).some(([key, value]) => sample.labels[key] !== value)) continue;
    total = (total ?? 0) + sample.value;
  }
  return total;
}

/** A histogram's cumulative buckets (upper bound → count of observations at or below it). */
export interface Histogram {
  readonly buckets: readonly { readonly le: number; readonly count: number }[];
  readonly sum: number;
  readonly count: number;
}

export const EMPTY_HISTOGRAM: Histogram = { buckets: [], sum: 0, count: 0 };

export function histogramOf(samples: readonly Sample[], name: string): Histogram | undefined {
  const counts = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket` || sample.labels.le === undefined) continue;
    const le = sample.labels.le === "+Inf" ? Number.POSITIVE_INFINITY : Number(sample.labels.le);
    counts.set(le, (counts.get(le) ?? 0) + sample.value);
  }
  if (counts.size === 0) return undefined;
  return {
    buckets: [...counts.entries()].sort(([a], [b]) => a - b).map(([le, count]) => ({ le, count })),
    sum: metricValue(samples, `${name}_sum`) ?? 0,
    count: metricValue(samples, `${name}_count`) ?? 0,
  };
}

/** Adds histograms with the same bucket bounds (one per replica). */
export function addHistograms(histograms: readonly Histogram[]): Histogram {
  const counts = new Map<number, number>();
  let sum = 0;
  let count = 0;
  for (const histogram of histograms) {
    for (const bucket of histogram.buckets)
      counts.set(bucket.le, (counts.get(bucket.le) ?? 0) + bucket.count);
    sum += histogram.sum;
    count += histogram.count;
  }
  return {
    buckets: [...counts.entries()].sort(([a], [b]) => a - b).map(([le, c]) => ({ le, count: c })),
    sum,
    count,
  };
}

/** What was observed between two scrapes of the same histogram. */
export function histogramDelta(after: Histogram, before: Histogram): Histogram {
  const earlier = new Map(before.buckets.map((b) => [b.le, b.count]));
  return {
    buckets: after.buckets.map((b) => ({ le: b.le, count: b.count - (earlier.get(b.le) ?? 0) })),
    sum: after.sum - before.sum,
    count: after.count - before.count,
  };
}

/**
 * The q-quantile of a histogram as Prometheus's histogram_quantile computes it: the bucket the
 * rank falls in, linearly interpolated between its bounds (an estimate whose error is the bucket's
 * width); the highest finite bound when the rank falls in +Inf. Null when nothing was observed.
 */
export function histogramQuantile(histogram: Histogram, q: number): number | null {
  const total = histogram.buckets.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  let previousBound = 0;
  let previousCount = 0;
  for (const bucket of histogram.buckets) {
    if (bucket.count >= rank) {
      if (bucket.le === Number.POSITIVE_INFINITY) return previousBound;
      const inBucket = bucket.count - previousCount;
      if (inBucket <= 0) return bucket.le;
      return previousBound + ((bucket.le - previousBound) * (rank - previousCount)) / inBucket;
    }
    previousBound = bucket.le;
    previousCount = bucket.count;
  }
  return previousBound;
}

let clockTicks: number | undefined;

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat; undefined once it is gone. */
export function processCpuSeconds(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis start
  // at the state (field 3), so utime (14) and stime (15) are the 12th and 13th of them.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}
