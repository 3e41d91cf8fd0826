import { createRequire } from "node:module";

/**
 * A BLAKE3 kernel of the addon: 16 output blocks at once with AVX-512 (F and BW); 8 with AVX2; 4 with
 * 128-bit vectors (SSE2, NEON, or plain C where neither); one at a time in portable C++.
 */
export type Blake3Kernel = "avx512" | "avx2" | "simd128" | "portable";

/** The addon's BLAKE3 functions. Each validates its arguments and throws a TypeError or RangeError on bad ones. */
export interface Blake3Native {
  /** The kernels this CPU runs, fastest first. */
  readonly kernels: readonly Blake3Kernel[];
  /** out ← the first out.length bytes of BLAKE3(input) (hash mode, extended output). */
  hash(input: Uint8Array, out: Uint8Array, kernel: Blake3Kernel): void;
  /**
   * out ← the SIMD-0215 lattice element (2048 bytes of BLAKE3 output) of each input: `inputs` holds inputs of
   * `inputLength` bytes (1 to 64) back to back, `out` 2048 bytes per input and no byte of `inputs`.
   */
  latticeElements(inputs: Uint8Array, inputLength: number, out: Uint8Array, kernel: Blake3Kernel): void;
  /**
   * lanes ← lanes + Σ (negate[i] ≠ 0 ? −1 : +1) · element(input i), each of the 1024 lanes modulo 2^16, the
   * element read as little-endian u16 lanes; in one call, so a batch pays the call's cost once.
   */
  latticeApply(
    lanes: Uint16Array,
    inputs: Uint8Array,
    inputLength: number,
    negate: Uint8Array,
    kernel: Blake3Kernel,
  ): void;
}

/** The addon's BLAKE3 functions, or why they are not available (not built, too old, or switched off). */
export type Blake3NativeLoad =
  | { readonly native: Blake3Native; readonly error: null }
  | { readonly native: null; readonly error: string };

/** Set SIMD23_BLAKE3_NATIVE=off to run without the addon's BLAKE3 (to exercise the fallbacks). */
export const BLAKE3_DISABLE_ENV = "SIMD23_BLAKE3_NATIVE";

interface Binding {
  blake3Kernels(): number[];
  blake3Hash(input: Uint8Array, out: Uint8Array, kernel: number): void;
  latticeElements(inputs: Uint8Array, inputLength: number, out: Uint8Array, kernel: number): void;
  latticeApply(
    lanes: Uint16Array,
    inputs: Uint8Array,
    inputLength: number,
    negate: Uint8Array,
    kernel: number,
  ): void;
}

// The numbering of blake3::Kernel in native/blake3.h.
const KERNEL_IDS: Readonly<Record<Blake3Kernel, number>> = { portable: 0, simd128: 1, avx2: 2, avx512: 3 };
const KERNEL_NAMES: readonly Blake3Kernel[] = ["portable", "simd128", "avx2", "avx512"];

function kernelId(kernel: Blake3Kernel): number {
  const id = KERNEL_IDS[kernel];
  if (id === undefined) throw new TypeError(`unknown BLAKE3 kernel ${JSON.stringify(kernel)}`);
  return id;
}

function wrap(binding: Binding): Blake3Native {
  const kernels = binding.blake3Kernels().map((id) => {
    const name = KERNEL_NAMES[id];
    if (name === undefined) throw new Error(`the addon reports an unknown BLAKE3 kernel ${id}`);
    return name;
  });
  return {
    kernels,
    hash: (input, out, kernel) => binding.blake3Hash(input, out, kernelId(kernel)),
    latticeElements: (inputs, inputLength, out, kernel) =>
      binding.latticeElements(inputs, inputLength, out, kernelId(kernel)),
    latticeApply: (lanes, inputs, inputLength, negate, kernel) =>
      binding.latticeApply(lanes, inputs, inputLength, negate, kernelId(kernel)),
  };
}

let loaded: Blake3NativeLoad | undefined;

/** Loads the addon's BLAKE3 functions once (the same build/Release/poh_native.node as the PoH functions). */
export function loadBlake3Native(): Blake3NativeLoad {
  if (loaded) return loaded;
  if (process.env[BLAKE3_DISABLE_ENV] === "off") {
    loaded = { native: null, error: `switched off by ${BLAKE3_DISABLE_ENV}=off` };
    return loaded;
  }
  try {
    // src/ (under vitest) and dist/ sit at the same depth beside build/.
    const binding = createRequire(import.meta.url)("../build/Release/poh_native.node") as Partial<Binding>;
    if (typeof binding.blake3Kernels !== "function" || typeof binding.latticeApply !== "function") {
      loaded = { native: null, error: "the native addon was built without BLAKE3: rebuild it" };
    } else {
      loaded = { native: wrap(binding as Binding), error: null };
    }
  } catch (error) {
    const reason = error instanceof Error ? error.message.split("\n")[0] : String(error);
    loaded = { native: null, error: `the native addon did not load: ${reason}` };
  }
  return loaded;
}
