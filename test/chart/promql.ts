/**
 * The metric names a PromQL expression (or a Grafana `label_values(...)` query) selects. It reads
 * the subset of PromQL the chart writes: selectors with label matchers, ranges, functions,
 * aggregations with by/without, binary operators, vector matching and Grafana variables.
 */
export function metricNames(expression: string): string[] {
  let text = expression;
  const labelValues = /^\s*label_values\((.*)\)\s*$/s.exec(text);
  if (labelValues) text = (labelValues[1] ?? "").split(",")[0] ?? "";
  text = text
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, " ") // string literals
    .replace(/\{[^}]*\}/g, " ") // label matchers
    .replace(/\[[^\]]*\]/g, " ") // ranges and subqueries
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ") // label lists
    .replace(/\boffset\s+\S+/g, " ")
    .replace(/\$\{?\w+\}?/g, " ") // Grafana variables
    .replace(/(^|[^\w:.])\d+(\.\d+)?([eE][+-]?\d+)?/g, "$1 "); // numbers
  const keywords = new Set(["and", "or", "unless", "bool", "by", "without", "on", "ignoring", "inf", "nan"]);
  const names = new Set<string>();
  for (const match of text.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const name = match[0];
    const rest = text.slice((match.index ?? 0) + name.length);
    if (/^\s*\(/.test(rest) || keywords.has(name.toLowerCase())) continue;
    names.add(name);
  }
  return [...names].sort();
}

/** A metric of docs/metrics.md: its name and type. */
export interface DocumentedMetric {
  readonly name: string;
  readonly type: string;
}

/**
 * The metrics docs/metrics.md lists: the first column of every table row whose first cell is a
 * backquoted name, with `<role>` expanded over the roles in the "Every role" table.
 */
export function documentedMetrics(markdown: string, roles: readonly string[]): DocumentedMetric[] {
  const metrics: DocumentedMetric[] = [];
  for (const line of markdown.split("\n")) {
    const row = /^\|\s*`([a-z0-9_<>]+)`\s*\|\s*([a-z]*)\s*\|/.exec(line);
    if (!row) continue;
    const [, name = "", type = ""] = row;
    const names = name.includes("<role>") ? roles.map((role) => name.replace("<role>", role)) : [name];
    for (const expanded of names) metrics.push({ name: expanded, type });
  }
  return metrics;
}

/** Why a metric name is not backed by docs/metrics.md, or null when it is. */
export function undocumented(
  name: string,
  metrics: readonly DocumentedMetric[],
  recordingRules: ReadonlySet<string>,
): string | null {
  if (recordingRules.has(name)) return null;
  if (/^(process|nodejs)_/.test(name)) return null; // prom-client default metrics, listed as such
  if (metrics.some((metric) => metric.name === name)) return null;
  const histogram = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (histogram && metrics.some((metric) => metric.name === histogram[1] && metric.type === "histogram"))
    return null;
  if (name.includes(":")) return `${name} is not a recording rule of the chart`;
  return `${name} is not in docs/metrics.md`;
}
