import { type CatalogueMetric, catalogued, type MetricRole, roleOfMetric } from "./catalogue.js";
import { type MetricFamily, metricLabelNames } from "./exposition.js";

/** One replica's /metrics, parsed. */
export interface ScrapedReplica {
  readonly role: MetricRole;
  readonly replica: string;
  readonly families: ReadonlyMap<string, MetricFamily>;
}

/** A metric name a dashboard or rule selects, with where (for the failure message). */
export interface MetricReference {
  readonly where: string;
  readonly name: string;
}

function describeMetric(metric: CatalogueMetric): string {
  const labels = metric.labels.map((label) => label.name).join(", ");
  return `${metric.type}${labels ? ` {${labels}}` : ""}`;
}

/**
 * What the replicas export against docs/metrics.md, one line per problem naming the replica and
 * the metric: a catalogued metric a replica of its role does not export, exports with another
 * type, or with other labels or a label value outside a closed set; a labelled metric no replica
 * of its role has a series of; a metric a dashboard or rule selects that is not catalogued or
 * not exported by its role; a `simd23_` metric named after another role; a replica without
 * prom-client's default metrics.
 */
export function exportProblems(
  catalogue: readonly CatalogueMetric[],
  scraped: readonly ScrapedReplica[],
  references: readonly MetricReference[],
): string[] {
  const problems: string[] = [];
  for (const metric of catalogue) {
    const ofRole = scraped.filter((s) => s.role === metric.role);
    let declared = false;
    let series = 0;
    for (const { replica, families } of ofRole) {
      const family = families.get(metric.name);
      if (family === undefined) {
        problems.push(
          `${replica}: does not export ${metric.name} (docs/metrics.md: ${describeMetric(metric)})`,
        );
        continue;
      }
      if (family.type !== metric.type) {
        problems.push(
          `${replica}: exports ${metric.name} as a ${family.type}; docs/metrics.md says ${metric.type}`,
        );
        continue;
      }
      declared = true;
      const expected = metric.labels.map((label) => label.name).sort();
      const seen = new Set<string>();
      for (const sample of family.samples) {
        series++;
        const names = metricLabelNames(family, sample);
        if (names.join(",") !== expected.join(",")) {
          const problem = `${replica}: ${metric.name} has labels {${names.join(", ")}}; docs/metrics.md says {${expected.join(", ")}}`;
          if (!seen.has(problem)) problems.push(problem);
          seen.add(problem);
        }
        for (const label of metric.labels) {
          const value = sample.labels[label.name];
          if (label.values === undefined || value === undefined || label.values.includes(value)) continue;
          const problem = `${replica}: ${metric.name}{${label.name}="${value}"}: docs/metrics.md allows ${label.values.join(", ")}`;
          if (!seen.has(problem)) problems.push(problem);
          seen.add(problem);
        }
      }
    }
    if (declared && series === 0)
      problems.push(`${metric.role}: no replica has a series of ${metric.name} (declared, never set)`);
  }

  for (const { where, name } of references) {
    if (name.includes(":")) continue; // a recording rule's series: Prometheus makes it
    const metric = catalogued(name, catalogue);
    if (metric === undefined) {
      problems.push(`${where}: ${name} is not in docs/metrics.md`);
      continue;
    }
    const without = scraped
      .filter((s) => s.role === metric.role && s.families.get(metric.name)?.type !== metric.type)
      .map((s) => s.replica);
    if (without.length > 0)
      problems.push(`${where}: ${name} is not exported as a ${metric.type} by ${without.join(", ")}`);
  }

  for (const { role, replica, families } of scraped)
    for (const name of families.keys()) {
      const owner = roleOfMetric(name);
      if (name.startsWith("simd23_") && owner !== role)
        problems.push(`${replica}: exports ${name}, which is not named after its role (simd23_${role}_…)`);
    }

  for (const { replica, families } of scraped)
    for (const prefix of ["process_", "nodejs_"])
      if (![...families.keys()].some((name) => name.startsWith(prefix)))
        problems.push(`${replica}: exports no prom-client default metric ${prefix}*`);
  return problems;
}

/** `simd23_*` metrics a replica exports that docs/metrics.md does not list: name → `replica (type)`. */
export function extraMetrics(
  catalogue: readonly CatalogueMetric[],
  scraped: readonly ScrapedReplica[],
): Map<string, string[]> {
  const extras = new Map<string, string[]>();
  for (const { replica, families } of scraped)
    for (const family of families.values())
      if (family.name.startsWith("simd23_") && !catalogue.some((metric) => metric.name === family.name))
        extras.set(family.name, [...(extras.get(family.name) ?? []), `${replica} (${family.type})`]);
  return extras;
}
