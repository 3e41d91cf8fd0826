import { hashChainAsync } from "./chain.js";
import type { PohEntry } from "./entry.js";
import { checkHash, checkHashCount, defaultPohHasher, type PohHasher } from "./hasher.js";
import { checkHashesIntoTick, checkHashesPerTick } from "./tick.js";

export type PohRecorderErrorCode =
  /** record() when only the tick's own hash is left in the tick. */
  | "tick-due"
  /** A call while hashAsync() is running. */
  | "busy";

/** A call the recorder cannot take in its present state; the state is unchanged. */
export class PohRecorderError extends Error {
  constructor(
    readonly code: PohRecorderErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "PohRecorderError";
  }
}

export interface PohRecorderOptions {
  /** With it, ticks fall every hashesPerTick hashes (checkTickCounts); without it, tick() is one plain hash. */
  readonly hashesPerTick?: number;
  /** The tick height at start: ticks before it. Default 0. */
  readonly tickHeight?: number;
  /** Hashes already in the current tick at start. Default 0. */
  readonly hashesIntoTick?: number;
  /** Default: the fastest hasher here. */
  readonly hasher?: PohHasher;
}

/**
 * A running PoH chain, for the leader and the proposers. It keeps no clock: the caller decides when to hash,
 * in chunks as small as it likes (hash, hashAsync), and when to record a mixin or tick; the recorder keeps the
 * counts, so every entry it returns verifies (firstInvalidEntry) and, with hashesPerTick, keeps the tick rule
 * (checkTickCounts).
 */
export class PohRecorder {
  readonly #state: Uint8Array;
  readonly #hasher: PohHasher;
  readonly #hashesPerTick: number | null;
  #hashesSinceEntry = 0;
  #hashesIntoTick: number;
  #tickHeight: number;
  #busy = false;

  constructor(start: Uint8Array, options: PohRecorderOptions = {}) {
    checkHash("start", start);
    const hashesPerTick = options.hashesPerTick ?? null;
    const hashesIntoTick = options.hashesIntoTick ?? 0;
    const tickHeight = options.tickHeight ?? 0;
    if (hashesPerTick === null) {
      checkHashCount("hashesIntoTick", hashesIntoTick);
    } else {
      checkHashesPerTick(hashesPerTick);
      checkHashesIntoTick(hashesIntoTick, hashesPerTick);
    }
    checkHashCount("tickHeight", tickHeight);
    this.#state = new Uint8Array(start);
    this.#hasher = options.hasher ?? defaultPohHasher;
    this.#hashesPerTick = hashesPerTick;
    this.#hashesIntoTick = hashesIntoTick;
    this.#tickHeight = tickHeight;
  }

  /** The current hash (a copy). */
  get currentHash(): Uint8Array {
    return this.#state.slice();
  }

  /** Hashes since the last entry: the numHashes the next entry would carry, less its own hash. */
  get hashesSinceEntry(): number {
    return this.#hashesSinceEntry;
  }

  /** Ticks so far, counting from the tick height at start. */
  get tickHeight(): number {
    return this.#tickHeight;
  }

  /** Hashes since the last tick. */
  get hashesIntoTick(): number {
    return this.#hashesIntoTick;
  }

  get hashesPerTick(): number | null {
    return this.#hashesPerTick;
  }

  /** Plain hashes left before the tick is due (Infinity without hashesPerTick). */
  get hashesUntilTick(): number {
    return this.#hashesPerTick === null
      ? Number.POSITIVE_INFINITY
      : this.#hashesPerTick - 1 - this.#hashesIntoTick;
  }

  get implementation(): PohHasher["implementation"] {
    return this.#hasher.implementation;
  }

  /** Hashes n times or until the tick is due, whichever is first; returns how many hashes it did. */
  hash(n: number): number {
    this.#checkIdle();
    checkHashCount("n", n);
    const count = Math.min(n, this.hashesUntilTick);
    this.#hasher.hashInPlace(this.#state, count);
    this.#advance(count);
    return count;
  }

  /** hash(n) off the JavaScript thread (native) or in yielding chunks (JavaScript); busy until it settles. */
  async hashAsync(n: number): Promise<number> {
    this.#checkIdle();
    checkHashCount("n", n);
    const count = Math.min(n, this.hashesUntilTick);
    this.#busy = true;
    try {
      this.#state.set(await hashChainAsync(this.#state, count, this.#hasher));
    } finally {
      this.#busy = false;
    }
    this.#advance(count);
    return count;
  }

  /**
   * Records a mixin: h ← sha256(h ‖ mixin), ending an entry that carries the mixin. Throws a
   * PohRecorderError "tick-due" when the next hash must be the tick's: tick() first.
   */
  record(mixin: Uint8Array): PohEntry {
    this.#checkIdle();
    if (!(mixin instanceof Uint8Array) || mixin.length === 0) {
      throw new RangeError("a mixin is a non-empty Uint8Array");
    }
    if (this.hashesUntilTick === 0) {
      throw new PohRecorderError("tick-due", `tick ${this.#tickHeight + 1} is due: tick() before recording`);
    }
    this.#hasher.mixinInPlace(this.#state, mixin);
    this.#advance(1);
    return this.#endEntry(new Uint8Array(mixin));
  }

  /**
   * Ends the tick with a tick entry (no mixin). With hashesPerTick it first does the hashes left in the tick
   * (hashesUntilTick, which a real-time caller keeps small by hashing in chunks), then the tick's own hash.
   */
  tick(): PohEntry {
    this.#checkIdle();
    const count = this.#hashesPerTick === null ? 1 : this.hashesUntilTick + 1;
    this.#hasher.hashInPlace(this.#state, count);
    this.#advance(count);
    this.#hashesIntoTick = 0;
    this.#tickHeight++;
    return this.#endEntry(null);
  }

  #checkIdle(): void {
    if (this.#busy) throw new PohRecorderError("busy", "the recorder is hashing (hashAsync)");
  }

  #advance(count: number): void {
    this.#hashesSinceEntry += count;
    this.#hashesIntoTick += count;
  }

  #endEntry(mixin: Uint8Array | null): PohEntry {
    const entry = { numHashes: this.#hashesSinceEntry, hash: this.#state.slice(), mixin };
    this.#hashesSinceEntry = 0;
    return entry;
  }
}
