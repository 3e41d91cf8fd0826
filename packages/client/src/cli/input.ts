import { readFileSync } from "node:fs";
import { fromHex } from "@simd23/core";
import { CliError } from "./errors.js";

/** Reads and parses a JSON file, turning every failure into a one-line CliError. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new CliError(
      `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`${path} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Walks untrusted JSON with a path in every error message ("entries[3].hash: expected …"). */
export class JsonReader {
  constructor(
    private readonly value: unknown,
    private readonly path: string,
  ) {}

  private fail(expected: string): never {
    throw new CliError(`${this.path}: expected ${expected}, got ${JSON.stringify(this.value) ?? "nothing"}`);
  }

  field(name: string): JsonReader {
    if (typeof this.value !== "object" || this.value === null || Array.isArray(this.value))
      this.fail("an object");
    return new JsonReader(
      (this.value as Record<string, unknown>)[name],
      this.path ? `${this.path}.${name}` : name,
    );
  }

  /** Fails on the first key of an object that is not one of `known` (a misspelt setting must not pass silently). */
  refuseUnknownKeys(known: readonly string[]): void {
    if (typeof this.value !== "object" || this.value === null || Array.isArray(this.value))
      this.fail("an object");
    const unknown = Object.keys(this.value as object).find((key) => !known.includes(key));
    if (unknown !== undefined) {
      const where = this.path ? `${this.path}.${unknown}` : unknown;
      throw new CliError(`${where}: unknown setting (known: ${known.join(", ")})`);
    }
  }

  has(name: string): boolean {
    return typeof this.value === "object" && this.value !== null && name in this.value;
  }

  array(): JsonReader[] {
    if (!Array.isArray(this.value)) this.fail("an array");
    return (this.value as unknown[]).map((item, i) => new JsonReader(item, `${this.path}[${i}]`));
  }

  isNull(): boolean {
    return this.value === null;
  }

  string(): string {
    if (typeof this.value !== "string" || this.value.length === 0) this.fail("a non-empty string");
    return this.value as string;
  }

  /** A non-negative safe integer. */
  integer(): number {
    if (typeof this.value !== "number" || !Number.isSafeInteger(this.value) || this.value < 0) {
      this.fail("a non-negative integer");
    }
    return this.value as number;
  }

  /** A non-negative integer, as a JSON number or a decimal string (for 64-bit values). */
  bigint(): bigint {
    if (typeof this.value === "string" && /^\d+$/.test(this.value)) return BigInt(this.value);
    return BigInt(this.integer());
  }

  /** A hex string of exactly `bytes` bytes. */
  hex(bytes: number): Uint8Array {
    const text = this.value;
    if (typeof text !== "string" || text.length !== bytes * 2) this.fail(`${bytes} bytes of hex`);
    try {
      return fromHex(text as string);
    } catch {
      return this.fail(`${bytes} bytes of hex`);
    }
  }
}

/** A whole number of lamports (a u64) from a command-line word. */
export function parseLamports(text: string, what: string): bigint {
  if (!/^\d+$/.test(text)) throw new CliError(`${what}: expected a whole number of lamports, got "${text}"`);
  const value = BigInt(text);
  if (value > 0xffff_ffff_ffff_ffffn) throw new CliError(`${what}: ${text} exceeds 2^64-1 lamports`);
  return value;
}

/** A non-negative safe integer from a command-line word. */
export function parseCount(text: string, what: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value))
    throw new CliError(`${what}: expected a non-negative integer, got "${text}"`);
  return value;
}

/** A positive number (fractions allowed) from a command-line word. */
export function parsePositiveNumber(text: string, what: string): number {
  const value = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(value > 0))
    throw new CliError(`${what}: expected a positive number, got "${text}"`);
  return value;
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 0.001, s: 1, m: 60, h: 3600 };

/** A duration in seconds from "20", "20s", "500ms", "2m" or "1h". */
export function parseDuration(text: string, what: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  const seconds = match ? Number(match[1]) * DURATION_UNITS[match[2] ?? "s"]! : Number.NaN;
  if (!(seconds > 0))
    throw new CliError(`${what}: expected a duration such as 20, 20s, 500ms or 2m, got "${text}"`);
  return seconds;
}

/** For commander: a parser that reports a bad value as a one-line CliError naming the option. */
export function argParser<T>(parse: (text: string, what: string) => T, what: string) {
  return (text: string): T => parse(text, what);
}

/** For commander: collects a repeatable option's values. */
export function collect(value: string, previous: readonly string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
