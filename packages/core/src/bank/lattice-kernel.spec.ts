import { blake3 } from "@noble/hashes/blake3.js";
import { BLAKE3_DISABLE_ENV, loadBlake3Native } from "@simd23/poh-native";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { toHex, utf8 } from "../bytes.js";
import { sha256 } from "../hash.js";
import { latticeOfAccounts } from "./lattice.js";
import {
  jsLatticeKernel,
  LATTICE_BYTES,
  LATTICE_INPUT_BYTES,
  LATTICE_LANES,
  type LatticeKernel,
  latticeImplementation,
  latticeKernelChain,
  latticeKernels,
} from "./lattice-kernel.js";

const kernels = latticeKernels();
const inputArb = fc.uint8Array({ minLength: LATTICE_INPUT_BYTES, maxLength: LATTICE_INPUT_BYTES });
const batchArb = fc.array(fc.tuple(inputArb, fc.boolean()), { maxLength: 24 });

const concat = (parts: readonly Uint8Array[]) => Uint8Array.from(parts.flatMap((part) => [...part]));

/** The lattice sum as SIMD-0215 states it: @noble's element of each input, read with a DataView. */
function referenceApply(lanes: Uint16Array, batch: readonly (readonly [Uint8Array, boolean])[]): number[] {
  const result = Array.from(lanes);
  for (const [input, negate] of batch) {
    const element = blake3(input, { dkLen: LATTICE_BYTES });
    const view = new DataView(element.buffer, element.byteOffset, element.byteLength);
    for (let i = 0; i < LATTICE_LANES; i++) {
      const lane = view.getUint16(2 * i, true);
      result[i] = (result[i]! + (negate ? 65_536 - lane : lane)) % 65_536;
    }
  }
  return result;
}

describe("lattice kernels", () => {
  it("are the addon's kernels fastest first, then WebAssembly, then @noble's JavaScript", () => {
    const names = kernels.map((kernel) => kernel.implementation);
    expect(names.slice(-2)).toEqual(["wasm", "js"]);
    const native = loadBlake3Native().native;
    expect(names.slice(0, -2)).toEqual(native ? native.kernels.map((kernel) => `native/${kernel}`) : []);
    expect(latticeImplementation().implementation).toBe(names[0]);
  });

  it.each(kernels)("$implementation: each element is @noble's 2048-byte blake3 of its input", (kernel) => {
    fc.assert(
      fc.property(fc.array(inputArb, { maxLength: 6 }), (inputs) => {
        const out = new Uint8Array(inputs.length * LATTICE_BYTES);
        kernel.elements(concat(inputs), out);
        const expected = concat(inputs.map((input) => blake3(input, { dkLen: LATTICE_BYTES })));
        expect(toHex(out)).toBe(toHex(expected));
      }),
      { numRuns: 30 },
    );
  });

  it.each(kernels)(
    "$implementation: a batch adds and subtracts @noble's elements lane by lane modulo 2^16",
    (kernel) => {
      fc.assert(
        fc.property(
          batchArb,
          fc.uint8Array({ minLength: LATTICE_BYTES, maxLength: LATTICE_BYTES }),
          (batch, start) => {
            const lanes = new Uint16Array(Uint8Array.from(start).buffer);
            const expected = referenceApply(lanes, batch);
            kernel.apply(
              lanes,
              concat(batch.map(([input]) => input)),
              Uint8Array.from(batch, ([, negate]) => (negate ? 1 : 0)),
            );
            expect(Array.from(lanes)).toEqual(expected);
          },
        ),
        { numRuns: 30 },
      );
    },
  );

  it.each(kernels)("$implementation: one batch equals its elements applied one call each", (kernel) => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        const batched = new Uint16Array(LATTICE_LANES);
        const oneByOne = new Uint16Array(LATTICE_LANES);
        kernel.apply(
          batched,
          concat(batch.map(([input]) => input)),
          Uint8Array.from(batch, ([, negate]) => (negate ? 1 : 0)),
        );
        for (const [input, negate] of batch) kernel.apply(oneByOne, input, Uint8Array.of(negate ? 1 : 0));
        expect(Array.from(batched)).toEqual(Array.from(oneByOne));
      }),
      { numRuns: 30 },
    );
  });

  it.each(kernels)(
    "$implementation: hash32 is @noble's blake3, the lattice's 2048 bytes included",
    (kernel) => {
      fc.assert(
        fc.property(
          fc.oneof(fc.uint8Array({ maxLength: 5_000 }), fc.uint8Array({ minLength: 2048, maxLength: 2048 })),
          (bytes) => {
            expect(toHex(kernel.hash32(bytes))).toBe(toHex(blake3(bytes)));
          },
        ),
        { numRuns: 30 },
      );
    },
  );

  it("the addon's blake3 gives @noble's 2048 bytes for the official test vectors' inputs", () => {
    const native = loadBlake3Native().native;
    if (native === null) return;
    const lengths = [
      0, 1, 8, 63, 64, 65, 127, 128, 129, 1023, 1024, 1025, 2048, 2049, 3072, 4097, 8193, 31_744,
    ];
    for (const kernel of native.kernels) {
      for (const length of lengths) {
        const input = Uint8Array.from({ length }, (_, i) => i % 251);
        const out = new Uint8Array(LATTICE_BYTES);
        native.hash(input, out, kernel);
        expect([kernel, length, toHex(out)]).toEqual([
          kernel,
          length,
          toHex(blake3(input, { dkLen: LATTICE_BYTES })),
        ]);
      }
    }
  });

  it("reject inputs that are not whole 40-byte inputs, and a negate of the wrong length", () => {
    for (const kernel of kernels) {
      const lanes = new Uint16Array(LATTICE_LANES);
      expect(() => kernel.apply(lanes, new Uint8Array(41), new Uint8Array(1))).toThrow(RangeError);
      expect(() => kernel.apply(lanes, new Uint8Array(80), new Uint8Array(1))).toThrow(RangeError);
      expect(() => kernel.elements(new Uint8Array(40), new Uint8Array(2047))).toThrow(RangeError);
      expect(lanes.every((lane) => lane === 0)).toBe(true);
    }
  });
});

describe("the fallback chain", () => {
  const wasm = kernels.find((kernel) => kernel.implementation === "wasm") as LatticeKernel;
  const accounts = Array.from(
    { length: 30 },
    (_, i) => [sha256(utf8(`fallback ${i}`)), BigInt(i * 1_000 + 1)] as const,
  );

  afterEach(() => {
    vi.unstubAllEnvs();
    vi.resetModules();
  });

  it("without the addon: WebAssembly, then JavaScript, and says why", () => {
    const chain = latticeKernelChain({ native: null, error: "no addon here" }, { kernel: wasm, error: null });
    expect(chain.kernels).toEqual([wasm, jsLatticeKernel]);
    expect(chain.fallbackReason).toBe("no addon here");
  });

  it("without the addon or WebAssembly: @noble's JavaScript, and says why", () => {
    const chain = latticeKernelChain(
      { native: null, error: "no addon here" },
      { kernel: null, error: "no WebAssembly here" },
    );
    expect(chain.kernels).toEqual([jsLatticeKernel]);
    expect(chain.fallbackReason).toBe("no addon here; no WebAssembly here");
  });

  it(`${BLAKE3_DISABLE_ENV}=off: a freshly loaded core runs the lattice on WebAssembly, with the same hash`, async () => {
    vi.stubEnv(BLAKE3_DISABLE_ENV, "off");
    vi.resetModules();
    const fresh = await import("./lattice-kernel.js");
    const freshLattice = await import("./lattice.js");
    expect(fresh.latticeImplementation()).toEqual({
      implementation: "wasm",
      fallbackReason: `switched off by ${BLAKE3_DISABLE_ENV}=off`,
    });
    expect(toHex(freshLattice.latticeOfAccounts(accounts).checksum())).toBe(
      toHex(latticeOfAccounts(accounts).checksum()),
    );
  });
});
