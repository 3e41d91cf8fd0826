import { bytesEqual } from "../bytes.js";
import { JS_HASHES_PER_TURN, yieldToEventLoop } from "./chain.js";
import {
  checkHash,
  defaultPohHasher,
  MAX_HASH_COUNT,
  NativeHasher,
  POH_HASH_BYTES,
  type PohHasher,
} from "./hasher.js";

/** An entry as PoH sees it: the hashes since the previous entry (the mixin hash included). */
export interface PohEntry {
  readonly numHashes: number;
  readonly hash: Uint8Array;
  readonly mixin: Uint8Array | null;
}

export interface VerifyOptions {
  /**
   * Native threads to spread the entries over (default 0: one per core; 1: the calling thread alone). The
   * JavaScript hasher always verifies on the calling thread.
   */
  readonly threads?: number;
  /** Default: the fastest hasher here. */
  readonly hasher?: PohHasher;
}

function isValidCount(numHashes: number): boolean {
  return Number.isInteger(numHashes) && numHashes >= 1 && numHashes <= MAX_HASH_COUNT;
}

/**
 * The hash an entry must carry, given the previous entry's hash: numHashes − 1 plain hashes, then the
 * mixin hash (or a plain hash when there is no mixin). Throws a RangeError on a count below 1.
 */
export function nextEntryHash(
  previous: Uint8Array,
  numHashes: number,
  mixin: Uint8Array | null,
  hasher: PohHasher = defaultPohHasher,
): Uint8Array {
  checkHash("previous", previous);
  if (!isValidCount(numHashes)) {
    throw new RangeError(`an entry needs an integer count of hashes in [1, 2^53], got ${numHashes}`);
  }
  const state = new Uint8Array(previous);
  if (mixin === null) {
    hasher.hashInPlace(state, numHashes);
  } else {
    hasher.hashInPlace(state, numHashes - 1);
    hasher.mixinInPlace(state, mixin);
  }
  return state;
}

/** How many leading entries have the shape the verifier can hash (the rest start with a malformed one). */
function wellFormedPrefix(entries: readonly PohEntry[]): number {
  for (let i = 0; i < entries.length; i++) {
    const { numHashes, hash, mixin } = entries[i]!;
    const mixinOk = mixin === null || mixin instanceof Uint8Array;
    if (
      typeof numHashes !== "number" ||
      !(hash instanceof Uint8Array) ||
      hash.length !== POH_HASH_BYTES ||
      !mixinOk
    ) {
      return i;
    }
  }
  return entries.length;
}

function checkThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 0 || threads > 0xffff) {
    throw new RangeError(`threads must be an integer in [0, 65535], got ${threads}`);
  }
}

function packEntries(start: Uint8Array, entries: readonly PohEntry[], count: number) {
  const hashes = new Uint8Array(POH_HASH_BYTES * count);
  const numHashes = new Float64Array(count);
  const mixinEnds = new Uint32Array(count);
  let mixinBytes = 0;
  for (let i = 0; i < count; i++) mixinBytes += entries[i]!.mixin?.length ?? 0;
  const mixins = new Uint8Array(mixinBytes);
  let mixinEnd = 0;
  for (let i = 0; i < count; i++) {
    const entry = entries[i]!;
    hashes.set(entry.hash, POH_HASH_BYTES * i);
    numHashes[i] = entry.numHashes;
    if (entry.mixin) {
      mixins.set(entry.mixin, mixinEnd);
      mixinEnd += entry.mixin.length;
    }
    mixinEnds[i] = mixinEnd;
  }
  return { start, hashes, numHashes, mixins, mixinEnds };
}

/** Verifies the first `count` entries on the calling thread; returns the first invalid index or −1. */
function verifyInOrder(
  hasher: PohHasher,
  start: Uint8Array,
  entries: readonly PohEntry[],
  count: number,
): number {
  const state = new Uint8Array(POH_HASH_BYTES);
  for (let i = 0; i < count; i++) {
    const entry = entries[i]!;
    if (!isValidCount(entry.numHashes)) return i;
    state.set(i === 0 ? start : entries[i - 1]!.hash);
    if (entry.mixin === null) {
      hasher.hashInPlace(state, entry.numHashes);
    } else {
      hasher.hashInPlace(state, entry.numHashes - 1);
      hasher.mixinInPlace(state, entry.mixin);
    }
    if (!bytesEqual(state, entry.hash)) return i;
  }
  return -1;
}

function combine(firstInvalid: number, prefix: number, total: number): number {
  if (firstInvalid >= 0) return firstInvalid;
  return prefix < total ? prefix : -1;
}

/**
 * Index of the first entry that does not follow from its predecessor (from start for entry 0), or −1 when
 * all verify. Each entry is checked from its predecessor's claimed hash, so the native hasher spreads the
 * entries over threads; the answer is the same as checking them in order. A malformed entry (hash not 32
 * bytes, count not an integer in [1, 2^53]) is invalid. Throws a RangeError on a bad start or options.
 */
export function firstInvalidEntry(
  start: Uint8Array,
  entries: readonly PohEntry[],
  options: VerifyOptions = {},
): number {
  checkHash("start", start);
  const threads = options.threads ?? 0;
  checkThreads(threads);
  const hasher = options.hasher ?? defaultPohHasher;
  const prefix = wellFormedPrefix(entries);
  const firstInvalid =
    hasher instanceof NativeHasher
      ? hasher.native.firstInvalidEntry(packEntries(start, entries, prefix), threads, hasher.kernel)
      : verifyInOrder(hasher, start, entries, prefix);
  return combine(firstInvalid, prefix, entries.length);
}

/**
 * firstInvalidEntry without holding the event loop: the native hasher verifies on native threads off the
 * JavaScript thread; the JavaScript one yields to the event loop every JS_HASHES_PER_TURN hashes.
 */
export async function firstInvalidEntryAsync(
  start: Uint8Array,
  entries: readonly PohEntry[],
  options: VerifyOptions = {},
): Promise<number> {
  checkHash("start", start);
  const threads = options.threads ?? 0;
  checkThreads(threads);
  const hasher = options.hasher ?? defaultPohHasher;
  const prefix = wellFormedPrefix(entries);
  if (hasher instanceof NativeHasher) {
    const packed = packEntries(start, entries, prefix);
    return combine(
      await hasher.native.firstInvalidEntryAsync(packed, threads, hasher.kernel),
      prefix,
      entries.length,
    );
  }
  const state = new Uint8Array(POH_HASH_BYTES);
  let budget = JS_HASHES_PER_TURN;
  for (let i = 0; i < prefix; i++) {
    const entry = entries[i]!;
    if (!isValidCount(entry.numHashes)) return i;
    state.set(i === 0 ? start : entries[i - 1]!.hash);
    let plainHashes = entry.mixin === null ? entry.numHashes : entry.numHashes - 1;
    while (plainHashes > 0) {
      const chunk = Math.min(plainHashes, budget);
      hasher.hashInPlace(state, chunk);
      plainHashes -= chunk;
      budget -= chunk;
      if (budget === 0) {
        await yieldToEventLoop();
        budget = JS_HASHES_PER_TURN;
      }
    }
    if (entry.mixin !== null) hasher.mixinInPlace(state, entry.mixin);
    if (!bytesEqual(state, entry.hash)) return i;
  }
  return combine(-1, prefix, entries.length);
}
