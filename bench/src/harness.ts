import type { ChildProcess } from "node:child_process";
import { cpus, loadavg, totalmem } from "node:os";

/** One measured figure, printed beside the baseline measured in the same run. */
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: { readonly name: string; readonly value: number };
  readonly note?: string;
}

/** A table of measured values (a curve, a per-role breakdown), printed as Markdown. */
export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
  readonly note?: string;
}

/** An SVG chart a suite drew from its own measurements; written beside the report. */
export interface Plot {
  /** File name suffix: the chart is written to `<report>-<name>.svg`. */
  readonly name: string;
  readonly title: string;
  readonly svg: string;
}

export interface SuiteResult {
  readonly figures: readonly Figure[];
  readonly tables?: readonly Table[];
  readonly plots?: readonly Plot[];
}

/** What the runner gives every suite. */
export interface SuiteContext {
  /** Aborted when the run is interrupted (SIGINT, SIGTERM): stop measuring and clean up. */
  readonly signal: AbortSignal;
  readonly natsUrl: string;
  readonly redisUrl: string;
  /** A progress line on stderr (the report itself goes to stdout and the file). */
  log(line: string): void;
}

/** A server a suite cannot run without. */
export type Dependency = "nats" | "redis";

export interface Suite {
  readonly name: string;
  /** What the suite measures and why its baseline is the right one. */
  readonly description: string;
  readonly needs?: readonly Dependency[];
  run(context: SuiteContext): Promise<readonly Figure[] | SuiteResult>;
}

const trackedChildren = new Map<ChildProcess, NodeJS.Signals>();

/**
 * Remembers a process a suite started, with the signal that stops it cleanly, until it exits:
 * if the runner exits first (an uncaught error, a second Ctrl-C), it sends that signal to each.
 */
export function trackChild(child: ChildProcess, stopSignal: NodeJS.Signals): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  trackedChildren.set(child, stopSignal);
  child.once("exit", () => trackedChildren.delete(child));
}

/** Sends every tracked process still running its stop signal (synchronously, for an exit hook). */
export function stopTrackedChildren(): void {
  for (const [child, signal] of trackedChildren)
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
}

/**
 * Runs fn repeatedly for at least minMs (after a warm-up) and returns the rate
 * in units per second; fn returns how many units it did.
 */
export async function measureRate(fn: () => number | Promise<number>, minMs = 1_000): Promise<number> {
  const warmUntil = performance.now() + Math.min(200, minMs / 5);
  while (performance.now() < warmUntil) await fn();
  let units = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    units += await fn();
    elapsed = performance.now() - start;
  } while (elapsed < minMs);
  return (units * 1000) / elapsed;
}

/** Resolves after ms, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const memory = `${Math.round(totalmem() / 2 ** 30)} GiB`;
  return `${cpu}, ${cpus().length} vCPU, ${memory}, Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** The 1-, 5- and 15-minute load averages, as `uptime` prints them. */
export function loadAverage(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(", ");
}

export function formatValue(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  if (magnitude >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (magnitude >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(magnitude >= 100 ? 0 : 2);
}

export function formatRatio(value: number, baseline: number): string {
  return baseline === 0 || !Number.isFinite(value / baseline) ? "n/a" : `${(value / baseline).toFixed(2)}×`;
}

export function formatFigure(figure: Figure): string {
  const own = `${formatValue(figure.value)} ${figure.unit}`;
  if (!figure.baseline) return `${figure.name}: ${own}`;
  const ratio = formatRatio(figure.value, figure.baseline.value);
  return `${figure.name}: ${own} vs ${figure.baseline.name} ${formatValue(figure.baseline.value)} ${figure.unit} = ${ratio}`;
}

export function formatTable(table: Table): string {
  const escapeCell = (cell: string) => cell.replaceAll("|", "\\|");
  const lines = [
    `**${table.title}**`,
    "",
    `| ${table.columns.map(escapeCell).join(" | ")} |`,
    `|${table.columns.map(() => "---").join("|")}|`,
    ...table.rows.map((row) => `| ${row.map(escapeCell).join(" | ")} |`),
  ];
  if (table.note) lines.push("", table.note);
  return lines.join("\n");
}

/** A suite's answer in one shape, whichever it returned. */
export function asSuiteResult(result: readonly Figure[] | SuiteResult): SuiteResult {
  return "figures" in result ? (result as SuiteResult) : { figures: result as readonly Figure[] };
}
