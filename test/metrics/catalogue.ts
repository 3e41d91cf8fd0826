/** `<role>` of docs/metrics.md: each role's folder name under services/ with - turned into _. */
export const METRIC_ROLES = [
  "proposer",
  "leader",
  "executor",
  "vote_aggregator",
  "bank_hash_verifier",
] as const;
export type MetricRole = (typeof METRIC_ROLES)[number];

/** A label of a catalogued metric; `values` when docs/metrics.md closes the set (e.g. `nats`, `redis`). */
export interface CatalogueLabel {
  readonly name: string;
  readonly values?: readonly string[];
}

/** One metric of docs/metrics.md. */
export interface CatalogueMetric {
  readonly name: string;
  readonly type: string;
  readonly labels: readonly CatalogueLabel[];
  /** The role whose prefix the name carries. */
  readonly role: MetricRole;
}

/** The role a `simd23_<role>_…` name belongs to (the longest role prefix), or undefined. */
export function roleOfMetric(name: string): MetricRole | undefined {
  return [...METRIC_ROLES]
    .sort((a, b) => b.length - a.length)
    .find((role) => name.startsWith(`simd23_${role}_`));
}

/** Splits a table cell at the commas outside parentheses. */
function topLevelParts(cell: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < cell.length; i++) {
    const c = cell[i];
    if (c === "(") depth++;
    else if (c === ")") depth--;
    else if (c === "," && depth === 0) {
      parts.push(cell.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(cell.slice(start));
  return parts.map((part) => part.trim()).filter((part) => part !== "");
}

/**
 * The labels column: `` `dependency` (`nats`, `redis`) ``, `` `version`, `mode` (`async`, `sync`) ``,
 * `` `reason` (`RejectReason` name, lower case) ``. A parenthesis of backquoted lower-case values
 * only is a closed set; anything else in it (a description, an ellipsis) leaves the set open.
 */
export function parseLabelsCell(cell: string): CatalogueLabel[] {
  return topLevelParts(cell).map((part) => {
    const label = /^`([a-z_][a-z0-9_]*)`\s*(?:\((.*)\))?$/.exec(part);
    if (!label) throw new Error(`docs/metrics.md: unreadable label "${part}"`);
    const list = label[2]?.trim();
    const closed = list !== undefined && /^`[a-z0-9_]+`(\s*,\s*`[a-z0-9_]+`)*$/.test(list);
    return closed
      ? { name: label[1]!, values: [...list.matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1]!) }
      : { name: label[1]! };
  });
}

/**
 * Every metric docs/metrics.md lists, with its type and labels: the table rows whose first cell
 * is a backquoted name, `<role>` expanded over the five roles. The prom-client defaults row
 * (process_* / nodejs_*) names no metric and is not among them.
 */
export function parseCatalogue(markdown: string): CatalogueMetric[] {
  const metrics: CatalogueMetric[] = [];
  for (const line of markdown.split("\n")) {
    const row = /^\|\s*`([a-z0-9_<>]+)`\s*\|([^|]*)\|([^|]*)\|/.exec(line);
    if (!row) continue;
    const [, name = "", type = "", labels = ""] = row;
    const names = name.includes("<role>") ? METRIC_ROLES.map((role) => name.replace("<role>", role)) : [name];
    for (const expanded of names) {
      const role = roleOfMetric(expanded);
      if (role === undefined) throw new Error(`docs/metrics.md: ${expanded} carries no role prefix`);
      metrics.push({ name: expanded, type: type.trim(), labels: parseLabelsCell(labels.trim()), role });
    }
  }
  return metrics;
}

/**
 * The catalogued metric a series name of a query stands for: the metric itself, or a histogram's
 * `_bucket`, `_sum` or `_count` series. Undefined when the catalogue has neither.
 */
export function catalogued(
  seriesName: string,
  catalogue: readonly CatalogueMetric[],
): CatalogueMetric | undefined {
  const exact = catalogue.find((metric) => metric.name === seriesName);
  if (exact) return exact;
  const histogram = /^(.*)_(bucket|sum|count)$/.exec(seriesName);
  return histogram
    ? catalogue.find((metric) => metric.name === histogram[1] && metric.type === "histogram")
    : undefined;
}
