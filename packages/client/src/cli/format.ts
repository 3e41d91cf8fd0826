import type { ExecutionResult, LevelName, TransactionStatus } from "../status.js";
import { LEVEL_NAMES } from "../status.js";

/** JSON with 64-bit values (bigints) as decimal strings, as the genesis file writes them. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === "bigint" ? v.toString() : v));
}

export function printJson(value: unknown): void {
  process.stdout.write(`${toJson(value)}\n`);
}

export function printLine(line = ""): void {
  process.stdout.write(`${line}\n`);
}

export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** `executed` → `"ok"` or the error name; null before. */
export function resultName(result: ExecutionResult | null): string | null {
  return result === null ? null : result.status;
}

/** `status --json`: `{"signature", "levels": {level: ISO-8601 time}, "result": "ok" | error | null}`. */
export function statusJson(status: TransactionStatus): {
  signature: string;
  levels: Partial<Record<LevelName, string>>;
  result: string | null;
} {
  const levels: Partial<Record<LevelName, string>> = {};
  for (const name of LEVEL_NAMES) {
    const time = status.levels[name];
    if (time !== undefined) levels[name] = isoTime(time);
  }
  return { signature: status.signature, levels, result: resultName(status.result) };
}

export function describeResult(result: ExecutionResult): string {
  return `${result.status} (fee ${result.fee} lamports, slot ${result.slot}, UserBlockSlot ${result.userBlockSlot}${
    result.proposer ? `, proposer ${result.proposer}` : ""
  })`;
}

/** The human form of a status: each level with its time and the time since the first. */
export function statusLines(status: TransactionStatus): string[] {
  const lines = [`Signature: ${status.signature}`];
  const first = status.levels.received ?? Object.values(status.levels)[0];
  for (const name of LEVEL_NAMES) {
    const time = status.levels[name];
    if (time === undefined) continue;
    const since = first === undefined ? "" : `  +${time - first} ms`;
    const reason = name === "dropped" && status.droppedReason ? `  (${status.droppedReason})` : "";
    lines.push(`  ${name.padEnd(11)} ${isoTime(time)}${since}${reason}`);
  }
  if (status.result !== null) lines.push(`Result: ${describeResult(status.result)}`);
  else if (status.droppedReason === null) lines.push("Result: not executed yet");
  return lines;
}

/** Text padded (or cut) to a column width. */
export function cell(
  text: string | number | bigint,
  width: number,
  align: "left" | "right" = "left",
): string {
  const value = String(text);
  const cut = value.length > width ? `${value.slice(0, Math.max(0, width - 1))}…` : value;
  return align === "left" ? cut.padEnd(width) : cut.padStart(width);
}

/** A public key shortened for a table: first and last four characters. */
export function shortKey(key: string): string {
  return key.length > 12 ? `${key.slice(0, 4)}…${key.slice(-4)}` : key;
}

export function formatMs(ms: number | null): string {
  if (ms === null) return "-";
  return ms >= 10_000 ? `${(ms / 1_000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
