import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The fields of a Grafana dashboard JSON this test reads. */
export interface Dashboard {
  readonly file: string;
  readonly title: string;
  readonly time: { readonly from: string; readonly to: string };
  readonly templating: { readonly list: readonly TemplateVariable[] };
  readonly panels: readonly {
    readonly title: string;
    readonly targets: readonly { readonly refId: string; readonly expr: string }[];
  }[];
}

export interface TemplateVariable {
  readonly name: string;
  readonly type: string;
  readonly query?: unknown;
  readonly definition?: string;
  readonly sort?: number;
  readonly includeAll?: boolean;
  readonly multi?: boolean;
}

/** One query of one panel, named the way a failure message names it. */
export interface PanelTarget {
  readonly where: string;
  readonly expr: string;
}

export function loadDashboards(dir: string): Dashboard[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .map((file) => ({ ...(JSON.parse(readFileSync(join(dir, file), "utf8")) as Dashboard), file }));
}

export function panelTargets(dashboard: Dashboard): PanelTarget[] {
  return dashboard.panels.flatMap((panel) =>
    panel.targets.map((target) => ({
      where: `${dashboard.file} / panel "${panel.title}" / target ${target.refId}`,
      expr: target.expr,
    })),
  );
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 };

/** Seconds of a Grafana relative time such as `now-30m`. */
export function relativeSeconds(time: string): number {
  const match = /^now-(\d+)([smhdw])$/.exec(time);
  if (!match) throw new Error(`unsupported dashboard time "${time}" (expected now-<n><unit>)`);
  return Number(match[1]) * UNIT_SECONDS[match[2]!]!;
}

/** A Prometheus duration of whole seconds, in the largest unit that divides it. */
export function promDuration(seconds: number): string {
  for (const [unit, size] of Object.entries(UNIT_SECONDS).reverse())
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  return `${seconds}s`;
}

/** What Grafana puts for its interval variables, in seconds. */
export interface GrafanaIntervals {
  readonly intervalSeconds: number;
  readonly rateIntervalSeconds: number;
  readonly rangeSeconds: number;
}

/**
 * Grafana's `$__interval` is the time range over the panel's data points, never below the data
 * source's scrape interval (here rounded up to whole seconds); `$__rate_interval` is
 * max(`$__interval` + scrape interval, 4 × scrape interval), so a rate always spans two scrapes.
 */
export function grafanaIntervals(rangeSeconds: number, scrapeSeconds: number, maxDataPoints: number) {
  const intervalSeconds = Math.max(scrapeSeconds, Math.ceil(rangeSeconds / maxDataPoints));
  return {
    intervalSeconds,
    rateIntervalSeconds: Math.max(intervalSeconds + scrapeSeconds, 4 * scrapeSeconds),
    rangeSeconds,
  } satisfies GrafanaIntervals;
}

/** The built-in variables of a query, from the intervals. */
export function builtinVariables(intervals: GrafanaIntervals): Record<string, string> {
  return {
    __interval: promDuration(intervals.intervalSeconds),
    __interval_ms: String(intervals.intervalSeconds * 1_000),
    __rate_interval: promDuration(intervals.rateIntervalSeconds),
    __range: promDuration(intervals.rangeSeconds),
    __range_s: String(intervals.rangeSeconds),
    __range_ms: String(intervals.rangeSeconds * 1_000),
  };
}

/**
 * Replaces Grafana variables (`$name`, `${name}`, `[[name]]`) with their values; a variable
 * with no value is an error that names it, never left in the query.
 */
export function substitute(expression: string, values: Readonly<Record<string, string>>): string {
  return expression.replace(
    /\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]/g,
    (text, braced?: string, plain?: string, bracketed?: string) => {
      const name = braced ?? plain ?? bracketed ?? "";
      const value = values[name];
      if (value === undefined) throw new Error(`no value for the Grafana variable ${text} in: ${expression}`);
      return value;
    },
  );
}

/** A `label_values(...)` variable query: the label, and the series selector when it has one. */
export function parseLabelValuesQuery(definition: string): { label: string; match?: string } {
  const call = /^\s*label_values\((.*)\)\s*$/s.exec(definition);
  if (!call) throw new Error(`unsupported variable query (expected label_values(...)): ${definition}`);
  const args = call[1]!;
  const comma = args.lastIndexOf(",");
  if (comma < 0) return { label: args.trim() };
  return { label: args.slice(comma + 1).trim(), match: args.slice(0, comma).trim() };
}

/** The option a user sees first: Grafana's `sort` (0 none, 1/2 alphabetical, 3/4 numerical). */
export function defaultOption(values: readonly string[], sort = 0): string | undefined {
  const sorted = [...values];
  if (sort === 1 || sort === 2) sorted.sort();
  if (sort === 3 || sort === 4) sorted.sort((a, b) => Number(a) - Number(b));
  if (sort === 2 || sort === 4) sorted.reverse();
  return sorted[0];
}
