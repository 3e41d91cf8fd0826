import type { PohEntry } from "./entry.js";
import { MAX_HASH_COUNT } from "./hasher.js";

/** What checkTickCounts found. */
export interface TickCountCheck {
  /** Index of the first entry that breaks the tick rule, or −1. */
  readonly firstInvalid: number;
  /** Hashes since the last tick after the entries that passed (carry it into the next batch). */
  readonly hashesIntoTick: number;
  /** Ticks among the entries that passed. */
  readonly ticks: number;
}

export function checkHashesPerTick(hashesPerTick: number): void {
  if (!Number.isInteger(hashesPerTick) || hashesPerTick < 1 || hashesPerTick > MAX_HASH_COUNT) {
    throw new RangeError(`hashesPerTick must be an integer in [1, 2^53], got ${hashesPerTick}`);
  }
}

export function checkHashesIntoTick(hashesIntoTick: number, hashesPerTick: number): void {
  if (!Number.isInteger(hashesIntoTick) || hashesIntoTick < 0 || hashesIntoTick >= hashesPerTick) {
    throw new RangeError(`hashesIntoTick must be an integer in [0, hashesPerTick), got ${hashesIntoTick}`);
  }
}

/**
 * The tick rule: a tick is an entry without a mixin, and it ends exactly hashesPerTick hashes after the
 * previous tick, counting every entry's numHashes in between and its own; an entry with a mixin never reaches
 * that count (the last hash of a tick is always a plain hash). So the hash count is the clock, and no entry
 * can claim more hashes than one tick: checking this before verifying the hashes bounds the work an entry
 * can demand. hashesIntoTick is the count already in the current tick before entries[0].
 */
export function checkTickCounts(
  entries: readonly PohEntry[],
  hashesPerTick: number,
  hashesIntoTick = 0,
): TickCountCheck {
  checkHashesPerTick(hashesPerTick);
  checkHashesIntoTick(hashesIntoTick, hashesPerTick);
  let intoTick = hashesIntoTick;
  let ticks = 0;
  for (let i = 0; i < entries.length; i++) {
    const { numHashes, mixin } = entries[i]!;
    const valid = Number.isInteger(numHashes) && numHashes >= 1;
    const reached = intoTick + numHashes;
    if (!valid || (mixin === null ? reached !== hashesPerTick : reached >= hashesPerTick)) {
      return { firstInvalid: i, hashesIntoTick: intoTick, ticks };
    }
    if (mixin === null) {
      intoTick = 0;
      ticks++;
    } else {
      intoTick = reached;
    }
  }
  return { firstInvalid: -1, hashesIntoTick: intoTick, ticks };
}
