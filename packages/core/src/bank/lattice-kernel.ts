import { blake3 } from "@noble/hashes/blake3.js";
import {
  type Blake3Kernel,
  type Blake3Native,
  type Blake3NativeLoad,
  loadBlake3Native,
} from "@simd23/poh-native";
import { createBLAKE3, type IHasher } from "hash-wasm";

/** The bytes of a lattice and of an element: 2048 bytes of blake3 output, read as 1024 u16 lanes. */
export const LATTICE_BYTES = 2048;
export const LATTICE_LANES = LATTICE_BYTES / 2;
/** An element's hash input: u64le(lamports) ‖ pubkey. */
export const LATTICE_INPUT_BYTES = 8 + 32;

/**
 * Where the lattice's blake3 runs: the native addon (with its fastest kernel first), hash-wasm's WebAssembly,
 * or @noble/hashes in plain JavaScript. All compute the same bytes; they differ only in speed.
 */
export type LatticeImplementation = `native/${Blake3Kernel}` | "wasm" | "js";

/** One implementation of the lattice's hashing. Inputs are LATTICE_INPUT_BYTES each, back to back. */
export interface LatticeKernel {
  readonly implementation: LatticeImplementation;
  /** out (2048 bytes per input) ← the element of each input. */
  elements(inputs: Uint8Array, out: Uint8Array): void;
  /** lanes ← lanes + Σ (negate[i] ≠ 0 ? −1 : +1) · element(input i), each lane modulo 2^16. */
  apply(lanes: Uint16Array, inputs: Uint8Array, negate: Uint8Array): void;
  /** The 32-byte blake3 of bytes. */
  hash32(bytes: Uint8Array): Uint8Array;
}

function inputCount(inputs: Uint8Array): number {
  if (inputs.length % LATTICE_INPUT_BYTES !== 0)
    throw new RangeError(`lattice inputs are ${LATTICE_INPUT_BYTES} bytes each, got ${inputs.length} bytes`);
  return inputs.length / LATTICE_INPUT_BYTES;
}

/** lanes ± an element given as its 2048 bytes (little-endian lanes); Uint16Array stores modulo 2^16. */
function accumulate(lanes: Uint16Array, element: Uint8Array, negate: boolean): void {
  if (negate) {
    for (let i = 0; i < LATTICE_LANES; i++)
      lanes[i] = lanes[i]! - (element[2 * i]! | (element[2 * i + 1]! << 8));
  } else {
    for (let i = 0; i < LATTICE_LANES; i++)
      lanes[i] = lanes[i]! + (element[2 * i]! | (element[2 * i + 1]! << 8));
  }
}

/** A kernel that hashes one input at a time and sums in JavaScript. */
function elementwiseKernel(
  implementation: LatticeImplementation,
  element: (input: Uint8Array) => Uint8Array,
  hash32: (bytes: Uint8Array) => Uint8Array,
): LatticeKernel {
  const inputAt = (inputs: Uint8Array, i: number) =>
    inputs.subarray(i * LATTICE_INPUT_BYTES, (i + 1) * LATTICE_INPUT_BYTES);
  return {
    implementation,
    elements(inputs, out) {
      const count = inputCount(inputs);
      if (out.length !== count * LATTICE_BYTES) throw new RangeError("out must hold 2048 bytes per input");
      for (let i = 0; i < count; i++) out.set(element(inputAt(inputs, i)), i * LATTICE_BYTES);
    },
    apply(lanes, inputs, negate) {
      const count = inputCount(inputs);
      if (negate.length !== count) throw new RangeError("negate must have one entry per input");
      for (let i = 0; i < count; i++) accumulate(lanes, element(inputAt(inputs, i)), negate[i] !== 0);
    },
    hash32,
  };
}

/** @noble/hashes: the reference, and the last resort. */
export const jsLatticeKernel: LatticeKernel = elementwiseKernel(
  "js",
  (input) => blake3(input, { dkLen: LATTICE_BYTES }),
  (bytes) => blake3(bytes),
);

function wasmLatticeKernel(xof: IHasher, short: IHasher): LatticeKernel {
  return elementwiseKernel(
    "wasm",
    (input) => xof.init().update(input).digest("binary"),
    (bytes) => short.init().update(bytes).digest("binary"),
  );
}

/** One call into the addon per batch: the elements never cross into JavaScript. */
function nativeLatticeKernel(native: Blake3Native, kernel: Blake3Kernel): LatticeKernel {
  return {
    implementation: `native/${kernel}`,
    elements: (inputs, out) => native.latticeElements(inputs, LATTICE_INPUT_BYTES, out, kernel),
    apply: (lanes, inputs, negate) => native.latticeApply(lanes, inputs, LATTICE_INPUT_BYTES, negate, kernel),
    hash32(bytes) {
      const out = new Uint8Array(32);
      native.hash(bytes, out, kernel);
      return out;
    },
  };
}

/** The WebAssembly kernel, or why there is none (WebAssembly can be switched off, e.g. node --jitless). */
export type WasmLatticeLoad =
  | { readonly kernel: LatticeKernel; readonly error: null }
  | { readonly kernel: null; readonly error: string };

async function loadWasmLatticeKernel(): Promise<WasmLatticeLoad> {
  try {
    const [xof, short] = await Promise.all([createBLAKE3(LATTICE_BYTES * 8), createBLAKE3(256)]);
    return { kernel: wasmLatticeKernel(xof, short), error: null };
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    return { kernel: null, error: `hash-wasm's blake3 did not load: ${reason}` };
  }
}

/** What the lattice runs on, and why not native when it is not. */
export interface LatticeKernelChain {
  /** Fastest first; the JavaScript kernel always last. */
  readonly kernels: readonly LatticeKernel[];
  readonly fallbackReason: string | null;
}

/** The fallback chain: the addon's kernels, then WebAssembly, then JavaScript; each missing one says why. */
export function latticeKernelChain(native: Blake3NativeLoad, wasm: WasmLatticeLoad): LatticeKernelChain {
  const addon = native.native;
  const nativeKernels = addon ? addon.kernels.map((kernel) => nativeLatticeKernel(addon, kernel)) : [];
  const kernels = [...nativeKernels, ...(wasm.kernel ? [wasm.kernel] : []), jsLatticeKernel];
  const reasons = nativeKernels.length > 0 ? [] : [native.error ?? "the addon has no BLAKE3 kernel"];
  if (nativeKernels.length === 0 && wasm.error !== null) reasons.push(wasm.error);
  return { kernels, fallbackReason: reasons.length > 0 ? reasons.join("; ") : null };
}

// Both loads happen once, when the core is imported: the addon synchronously,
// hash-wasm's module compiled asynchronously (hence the top-level await).
const chain = latticeKernelChain(loadBlake3Native(), await loadWasmLatticeKernel());

/** Every lattice kernel available here, fastest first (the JavaScript one always last). */
export function latticeKernels(): readonly LatticeKernel[] {
  return chain.kernels;
}

/** What the lattice runs on, for a service to log at start: the implementation, and why not native if it is not. */
export function latticeImplementation(): {
  readonly implementation: LatticeImplementation;
  readonly fallbackReason: string | null;
} {
  return { implementation: chain.kernels[0]!.implementation, fallbackReason: chain.fallbackReason };
}

let scopedKernel: LatticeKernel | null = null;

/** The kernel a lattice created now uses: the fastest, unless withLatticeKernel says otherwise. */
export function currentLatticeKernel(): LatticeKernel {
  return scopedKernel ?? chain.kernels[0]!;
}

/**
 * Runs `run` with lattices created during it (and their clones, for good) on `kernel` instead of the
 * fastest: for benchmarks and tests that set implementations side by side. `run` must be synchronous.
 */
export function withLatticeKernel<T>(kernel: LatticeKernel, run: () => T): T {
  const previous = scopedKernel;
  scopedKernel = kernel;
  try {
    return run();
  } finally {
    scopedKernel = previous;
  }
}
