import { createRequire } from "node:module";

export {
  BLAKE3_DISABLE_ENV,
  type Blake3Kernel,
  type Blake3Native,
  type Blake3NativeLoad,
  loadBlake3Native,
} from "./blake3.js";

/**
 * A SHA-256 kernel of the addon: the x86 SHA extensions; portable C++ built for CPUs with BMI2 (x86 since
 * 2013); portable C++ for any CPU.
 */
export type ShaKernel = "sha-ni" | "portable-bmi2" | "portable";

/**
 * Entries packed for the addon. Entry i follows the hash of entry i − 1 (`start` for entry 0): it hashes
 * numHashes[i] times, the last hash recording its mixin when it has one, and must arrive at its hash.
 */
export interface PackedEntries {
  /** 32 bytes. */
  readonly start: Uint8Array;
  /** 32 bytes per entry, back to back. */
  readonly hashes: Uint8Array;
  readonly numHashes: Float64Array;
  /** Every entry's mixin, back to back. */
  readonly mixins: Uint8Array;
  /** Where entry i's mixin ends in `mixins` (it starts where entry i − 1's ends); an empty mixin is none. */
  readonly mixinEnds: Uint32Array;
}

/** The addon's functions. Each validates its arguments and throws a TypeError or RangeError on bad ones. */
export interface PohNative {
  /** The kernels this CPU runs, fastest first. */
  readonly kernels: readonly ShaKernel[];
  /** state ← sha256ⁿ(state), in place on 32 bytes; n an integer in [0, 2^53]. */
  hashChain(state: Uint8Array, n: number, kernel: ShaKernel): void;
  /** state ← sha256(state ‖ mixin), in place. */
  hashMixin(state: Uint8Array, mixin: Uint8Array, kernel: ShaKernel): void;
  /** sha256ⁿ(start), computed on a libuv worker thread. */
  hashChainAsync(start: Uint8Array, n: number, kernel: ShaKernel): Promise<Uint8Array>;
  /** Index of the first entry that does not verify, or −1; on up to `threads` native threads (0: one per core). */
  firstInvalidEntry(entries: PackedEntries, threads: number, kernel: ShaKernel): number;
  /** firstInvalidEntry off the JavaScript thread. */
  firstInvalidEntryAsync(entries: PackedEntries, threads: number, kernel: ShaKernel): Promise<number>;
}

/** The addon, or why it is not available (not built, failed to load, or switched off). */
export type PohNativeLoad =
  | { readonly native: PohNative; readonly error: null }
  | { readonly native: null; readonly error: string };

/** Set SIMD23_POH_NATIVE=off to run without the addon (to exercise the JavaScript fallback). */
export const DISABLE_ENV = "SIMD23_POH_NATIVE";

interface Binding {
  kernels(): number[];
  hashChain(state: Uint8Array, n: number, kernel: number): void;
  hashMixin(state: Uint8Array, mixin: Uint8Array, kernel: number): void;
  hashChainAsync(start: Uint8Array, n: number, kernel: number): Promise<Uint8Array>;
  firstInvalidEntry(...args: BatchArguments): number;
  firstInvalidEntryAsync(...args: BatchArguments): Promise<number>;
}

type BatchArguments = [Uint8Array, Uint8Array, Float64Array, Uint8Array, Uint32Array, number, number];

// The numbering of poh::Kernel in native/sha256.h.
const KERNEL_IDS: Readonly<Record<ShaKernel, number>> = { portable: 0, "sha-ni": 1, "portable-bmi2": 2 };
const KERNEL_NAMES: readonly ShaKernel[] = ["portable", "sha-ni", "portable-bmi2"];

function kernelId(kernel: ShaKernel): number {
  const id = KERNEL_IDS[kernel];
  if (id === undefined) throw new TypeError(`unknown SHA-256 kernel ${JSON.stringify(kernel)}`);
  return id;
}

function batchArguments(entries: PackedEntries, threads: number, kernel: ShaKernel): BatchArguments {
  return [
    entries.start,
    entries.hashes,
    entries.numHashes,
    entries.mixins,
    entries.mixinEnds,
    threads,
    kernelId(kernel),
  ];
}

function wrap(binding: Binding): PohNative {
  const kernels = binding.kernels().map((id) => {
    const name = KERNEL_NAMES[id];
    if (name === undefined) throw new Error(`the addon reports an unknown kernel ${id}`);
    return name;
  });
  return {
    kernels,
    hashChain: (state, n, kernel) => binding.hashChain(state, n, kernelId(kernel)),
    hashMixin: (state, mixin, kernel) => binding.hashMixin(state, mixin, kernelId(kernel)),
    hashChainAsync: (start, n, kernel) => binding.hashChainAsync(start, n, kernelId(kernel)),
    firstInvalidEntry: (entries, threads, kernel) =>
      binding.firstInvalidEntry(...batchArguments(entries, threads, kernel)),
    firstInvalidEntryAsync: (entries, threads, kernel) =>
      binding.firstInvalidEntryAsync(...batchArguments(entries, threads, kernel)),
  };
}

let loaded: PohNativeLoad | undefined;

/** Loads the addon once (build/Release/poh_native.node, built at install by node-gyp). */
export function loadPohNative(): PohNativeLoad {
  if (loaded) return loaded;
  if (process.env[DISABLE_ENV] === "off") {
    loaded = { native: null, error: `switched off by ${DISABLE_ENV}=off` };
    return loaded;
  }
  try {
    // src/ (under vitest) and dist/ sit at the same depth beside build/.
    const binding = createRequire(import.meta.url)("../build/Release/poh_native.node") as Binding;
    loaded = { native: wrap(binding), error: null };
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    loaded = { native: null, error: `the native addon did not load: ${reason}` };
  }
  return loaded;
}
