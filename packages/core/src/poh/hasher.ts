import { createHash } from "node:crypto";
import { loadPohNative, type PohNative, type ShaKernel } from "@simd23/poh-native";
import { jsHashChainInPlace } from "./sha256-js.js";

/** Bytes of a PoH hash. */
export const POH_HASH_BYTES = 32;
/** The largest hash count a JavaScript number holds exactly. */
export const MAX_HASH_COUNT = 2 ** 53;

/** Which code computes the chain: the native addon with one of its kernels, or JavaScript. */
export type PohImplementation = "native/sha-ni" | "native/portable-bmi2" | "native/portable" | "js";

/** One implementation of the two PoH hash steps, working in place on a 32-byte state. */
export interface PohHasher {
  readonly implementation: PohImplementation;
  /** state ← sha256ⁿ(state); n an integer in [0, 2^53]. */
  hashInPlace(state: Uint8Array, n: number): void;
  /** state ← sha256(state ‖ mixin). */
  mixinInPlace(state: Uint8Array, mixin: Uint8Array): void;
}

export function checkHash(what: string, bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== POH_HASH_BYTES) {
    throw new RangeError(`${what} must be a ${POH_HASH_BYTES}-byte Uint8Array`);
  }
}

export function checkHashCount(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_HASH_COUNT) {
    throw new RangeError(`${what} must be an integer in [0, 2^53], got ${n}`);
  }
}

function checkMixin(mixin: Uint8Array): void {
  if (!(mixin instanceof Uint8Array)) throw new TypeError("a mixin must be a Uint8Array");
}

class JsHasher implements PohHasher {
  readonly implementation = "js";

  hashInPlace(state: Uint8Array, n: number): void {
    checkHash("state", state);
    checkHashCount("n", n);
    jsHashChainInPlace(state, n);
  }

  mixinInPlace(state: Uint8Array, mixin: Uint8Array): void {
    checkHash("state", state);
    checkMixin(mixin);
    // One hash per entry, of any length: node:crypto is fast enough and needs no second SHA-256 here.
    state.set(createHash("sha256").update(state).update(mixin).digest());
  }
}

export class NativeHasher implements PohHasher {
  readonly implementation: PohImplementation;

  constructor(
    readonly native: PohNative,
    readonly kernel: ShaKernel,
  ) {
    this.implementation = `native/${kernel}`;
  }

  hashInPlace(state: Uint8Array, n: number): void {
    checkHash("state", state);
    checkHashCount("n", n);
    this.native.hashChain(state, n, this.kernel);
  }

  mixinInPlace(state: Uint8Array, mixin: Uint8Array): void {
    checkHash("state", state);
    checkMixin(mixin);
    this.native.hashMixin(state, mixin, this.kernel);
  }
}

const nativeLoad = loadPohNative();

function availableHashers(native: PohNative | null): PohHasher[] {
  const nativeHashers = native ? native.kernels.map((kernel) => new NativeHasher(native, kernel)) : [];
  return [...nativeHashers, new JsHasher()];
}

const hashers: readonly PohHasher[] = availableHashers(nativeLoad.native);

/** The fastest hasher here: the one every PoH function uses unless given another. */
export const defaultPohHasher: PohHasher = hashers[0]!;

/** Every hasher available on this machine, fastest first (the JavaScript one always last). */
export function pohHashers(): readonly PohHasher[] {
  return hashers;
}

/** What PoH runs on, for a service to log at start: the implementation, and why not native if it is not. */
export function pohImplementation(): {
  readonly implementation: PohImplementation;
  readonly fallbackReason: string | null;
} {
  return { implementation: defaultPohHasher.implementation, fallbackReason: nativeLoad.error };
}
