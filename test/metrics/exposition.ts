/** One sample line of the Prometheus text format. */
export interface Sample {
  /** The series name as written, e.g. `x_seconds_bucket` for a histogram `x_seconds`. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A metric family: its `# TYPE` (untyped when none was declared) and its samples. */
export interface MetricFamily {
  readonly name: string;
  readonly type: string;
  readonly samples: Sample[];
}

const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  histogram: ["_bucket", "_sum", "_count"],
  summary: ["_sum", "_count"],
};

function unescapeLabelValue(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  const pair = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)/y;
  let at = 0;
  while (at < text.length) {
    pair.lastIndex = at;
    const match = pair.exec(text);
    if (!match) throw new Error(`unreadable labels in exposition line: ${line}`);
    labels[match[1]!] = unescapeLabelValue(match[2]!);
    at = pair.lastIndex;
  }
  return labels;
}

/** A sample value; like Prometheus, NaN and Inf in any case (prom-client writes `Nan`). */
function parseValue(text: string, line: string): number {
  if (/^\+?inf$/i.test(text)) return Number.POSITIVE_INFINITY;
  if (/^-inf$/i.test(text)) return Number.NEGATIVE_INFINITY;
  if (/^nan$/i.test(text)) return Number.NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`unreadable value in exposition line: ${line}`);
  return value;
}

/**
 * Reads a `/metrics` page in the Prometheus text format (what prom-client serves): every family
 * by name, with the type its `# TYPE` line declares and its samples. A family that is declared
 * but has no samples (a labelled metric before its first event) is present with none.
 */
export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  let current: MetricFamily | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    const declared = /^#\s+TYPE\s+(\S+)\s+(\S+)$/.exec(line);
    if (declared) {
      current = { name: declared[1]!, type: declared[2]!, samples: [] };
      families.set(current.name, current);
      continue;
    }
    if (line.startsWith("#")) continue;
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/.exec(line);
    if (!sample) throw new Error(`unreadable exposition line: ${line}`);
    const name = sample[1]!;
    const parsed: Sample = {
      name,
      labels: parseLabels(sample[2] ?? "", line),
      value: parseValue(sample[3]!, line),
    };
    const family =
      current !== undefined &&
      (name === current.name || (SUFFIXES[current.type] ?? []).some((s) => name === current!.name + s))
        ? current
        : families.get(name);
    if (family) family.samples.push(parsed);
    else families.set(name, { name, type: "untyped", samples: [parsed] });
  }
  return families;
}

/** The label names of a sample that belong to its metric (a histogram bucket's `le` does not). */
export function metricLabelNames(family: MetricFamily, sample: Sample): string[] {
  return Object.keys(sample.labels)
    .filter((label) => !(family.type === "histogram" && sample.name.endsWith("_bucket") && label === "le"))
    .filter((label) => !(family.type === "summary" && label === "quantile"))
    .sort();
}
