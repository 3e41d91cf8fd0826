import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export type { Counter, Gauge, Histogram, Registry } from "prom-client";

export type MetricType = "counter" | "gauge" | "histogram";

/** A metric or label name that breaks the project's naming rule (docs/metrics.md). */
export class MetricNameError extends Error {
  override readonly name = "MetricNameError";
}

export interface MetricOptions<L extends string> {
  /** The full name, `simd23_<role>_<thing>_<unit>`. */
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
}

export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  readonly buckets?: readonly number[];
}

/**
 * A service's metrics: one prom-client registry (served at `/metrics`) holding the default
 * process metrics, the standard metrics every role has, and the role's own, which can only be
 * created through these methods so every name follows the rule.
 */
export interface ServiceMetrics {
  readonly registry: Registry;
  /** The role as it appears in metric names: `vote-aggregator` → `vote_aggregator`. */
  readonly prefix: string;
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L>;
  gauge<L extends string = never>(options: MetricOptions<L>): Gauge<L>;
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L>;
  /** `simd23_<role>_slot`: the newest slot this role has seen in the ledger (every role sets it). */
  readonly slot: Gauge;
  /**
   * `simd23_<role>_messages_refused_total{stream,reason}`: bus messages the role refused (a bad
   * envelope, a wrong signer, a body that does not decode). Roles count through the runtime's
   * MessageRefusals, which starts each stream's common reasons at 0.
   */
  readonly messagesRefused: Counter<"stream" | "reason">;
}

/** The role's segment of a metric name: lower case with `-` turned into `_`. */
export function metricRole(role: string): string {
  return role.replaceAll("-", "_");
}

const NAME = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
const NON_BASE_UNITS: Readonly<Record<string, string>> = {
  ms: "seconds",
  millis: "seconds",
  milliseconds: "seconds",
  us: "seconds",
  micros: "seconds",
  microseconds: "seconds",
  ns: "seconds",
  nanos: "seconds",
  nanoseconds: "seconds",
  minutes: "seconds",
  hours: "seconds",
  days: "seconds",
  kb: "bytes",
  kib: "bytes",
  kilobytes: "bytes",
  mb: "bytes",
  mib: "bytes",
  megabytes: "bytes",
  gb: "bytes",
  gib: "bytes",
  gigabytes: "bytes",
  percent: "ratio (0 to 1)",
  pct: "ratio (0 to 1)",
};
const RESERVED_SUFFIXES = ["bucket", "count", "sum", "created"];
/** Label name words that mean an unbounded value: a slot number, a hash, a signature. */
const UNBOUNDED_LABEL_WORDS = new Set([
  "slot",
  "slots",
  "hash",
  "hashes",
  "blockhash",
  "bankhash",
  "signature",
  "signatures",
  "txid",
  "tick",
  "height",
]);

/**
 * Enforces `simd23_<role>_<thing>_<unit>`: lower snake case, the role's prefix, base units
 * (seconds, bytes, ratios; counted things are named by what they count), counters and only
 * counters ending in `_total`, no name ending like a histogram's own series.
 */
export function checkMetricName(role: string, type: MetricType, name: string): void {
  const prefix = `simd23_${metricRole(role)}_`;
  const fail = (why: string): never => {
    throw new MetricNameError(`metric name ${JSON.stringify(name)}: ${why}`);
  };
  if (!NAME.test(name)) fail("use lower snake case (a-z, 0-9, single underscores)");
  if (!name.startsWith(prefix) || name.length === prefix.length) {
    fail(`must be ${prefix}<thing>_<unit>`);
  }
  const words = name.slice(prefix.length).split("_");
  const endsInTotal = words.at(-1) === "total";
  if (type === "counter" && !endsInTotal) fail("a counter's name ends in _total");
  if (type !== "counter" && endsInTotal) fail(`only counters end in _total (this is a ${type})`);
  const unitWords = endsInTotal ? words.slice(0, -1) : words;
  if (unitWords.length === 0) fail(`must be ${prefix}<thing>_total`);
  const unit = unitWords.at(-1)!;
  const baseUnit = NON_BASE_UNITS[unit];
  if (baseUnit !== undefined) fail(`"${unit}" is not a base unit: use ${baseUnit}`);
  if (RESERVED_SUFFIXES.includes(unit)) fail(`_${unit} is reserved for a histogram's own series`);
  if (unit === "info" && type !== "gauge") fail("only a gauge (always 1) ends in _info");
}

/** Label names are lower snake case and never carry an unbounded value such as a slot or a hash. */
export function checkLabelNames(metricName: string, labelNames: readonly string[]): void {
  for (const label of labelNames) {
    const fail = (why: string): never => {
      throw new MetricNameError(`label ${JSON.stringify(label)} of ${metricName}: ${why}`);
    };
    if (!NAME.test(label)) fail("use lower snake case");
    if (label === "le" || label === "quantile") fail("reserved by Prometheus");
    const unbounded = label.split("_").find((word) => UNBOUNDED_LABEL_WORDS.has(word));
    if (unbounded !== undefined) {
      fail(`"${unbounded}" values are unbounded (a new series per value): put them in logs or traces`);
    }
  }
}

export interface CreateServiceMetricsOptions {
  /** Collect prom-client's default process and Node.js metrics (default true). */
  readonly defaultMetrics?: boolean;
}

/**
 * A fresh registry for one role, with the default process metrics, `simd23_<role>_slot` and
 * `simd23_<role>_messages_refused_total`.
 */
export function createServiceMetrics(
  role: string,
  options: CreateServiceMetricsOptions = {},
): ServiceMetrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const metrics: Omit<ServiceMetrics, "slot" | "messagesRefused"> = {
    registry,
    prefix: `simd23_${metricRole(role)}`,
    counter<L extends string = never>(config: MetricOptions<L>): Counter<L> {
      checkMetricName(role, "counter", config.name);
      checkLabelNames(config.name, config.labelNames ?? []);
      return new Counter<L>({ ...config, labelNames: config.labelNames ?? [], registers });
    },
    gauge<L extends string = never>(config: MetricOptions<L>): Gauge<L> {
      checkMetricName(role, "gauge", config.name);
      checkLabelNames(config.name, config.labelNames ?? []);
      return new Gauge<L>({ ...config, labelNames: config.labelNames ?? [], registers });
    },
    histogram<L extends string = never>(config: HistogramOptions<L>): Histogram<L> {
      checkMetricName(role, "histogram", config.name);
      checkLabelNames(config.name, config.labelNames ?? []);
      const { buckets, ...rest } = config;
      return new Histogram<L>({
        ...rest,
        labelNames: config.labelNames ?? [],
        registers,
        ...(buckets ? { buckets: [...buckets] } : {}),
      });
    },
  };
  const slot = metrics.gauge({
    name: `${metrics.prefix}_slot`,
    help: "The newest slot this role has seen in the ledger.",
  });
  const messagesRefused = metrics.counter({
    name: `${metrics.prefix}_messages_refused_total`,
    help: "Bus messages refused (bad envelope, wrong signer, malformed body), by stream and reason.",
    labelNames: ["stream", "reason"],
  });
  return { ...metrics, slot, messagesRefused };
}
