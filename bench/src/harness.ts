import { cpus } from "node:os";

/** One measured figure, printed beside the baseline measured in the same run. */
export interface Figure {
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: { readonly name: string; readonly value: number };
  readonly note?: string;
}

export interface Suite {
  readonly name: string;
  /** What the suite measures and why its baseline is the right one. */
  readonly description: string;
  run(): Promise<Figure[]>;
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

export function machine(): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return `${cpu}, ${cpus().length} vCPU, Node ${process.version}, ${process.platform}/${process.arch}`;
}

export function formatValue(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(value >= 100 ? 0 : 2);
}

export function formatFigure(figure: Figure): string {
  const own = `${formatValue(figure.value)} ${figure.unit}`;
  if (!figure.baseline) return `${figure.name}: ${own}`;
  const ratio = figure.value / figure.baseline.value;
  return `${figure.name}: ${own} vs ${figure.baseline.name} ${formatValue(figure.baseline.value)} ${figure.unit} = ${ratio.toFixed(2)}×`;
}
