import { checkHash, checkHashCount, defaultPohHasher, NativeHasher, type PohHasher } from "./hasher.js";

/** Hashes the JavaScript fallback does between yields to the event loop in the async functions (a few ms). */
export const JS_HASHES_PER_TURN = 1 << 15;

/** h ← sha256(h), n times: sha256ⁿ(start). start is 32 bytes; n an integer in [0, 2^53]. */
export function hashChain(start: Uint8Array, n: number, hasher: PohHasher = defaultPohHasher): Uint8Array {
  checkHash("start", start);
  const state = new Uint8Array(start);
  hasher.hashInPlace(state, n);
  return state;
}

/** sha256(h ‖ mixin): the hash that records a mixin. */
export function mixinHash(
  h: Uint8Array,
  mixin: Uint8Array,
  hasher: PohHasher = defaultPohHasher,
): Uint8Array {
  checkHash("h", h);
  const state = new Uint8Array(h);
  hasher.mixinInPlace(state, mixin);
  return state;
}

/** Lets the event loop run (I/O and timers) before the returned promise settles. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * sha256ⁿ(start) without holding the event loop: the native hasher runs on a libuv worker thread; the
 * JavaScript one hashes JS_HASHES_PER_TURN at a time between yields.
 */
export async function hashChainAsync(
  start: Uint8Array,
  n: number,
  hasher: PohHasher = defaultPohHasher,
): Promise<Uint8Array> {
  checkHash("start", start);
  checkHashCount("n", n);
  if (hasher instanceof NativeHasher) return hasher.native.hashChainAsync(start, n, hasher.kernel);
  const state = new Uint8Array(start);
  for (let done = 0; done < n; ) {
    const chunk = Math.min(JS_HASHES_PER_TURN, n - done);
    hasher.hashInPlace(state, chunk);
    done += chunk;
    if (done < n) await yieldToEventLoop();
  }
  return state;
}
