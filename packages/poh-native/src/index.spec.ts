import { createHash, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { loadPohNative, type PackedEntries, type PohNative, type ShaKernel } from "./index.js";

function referenceChain(start: Uint8Array, n: number): Uint8Array {
  let h = Buffer.from(start);
  for (let i = 0; i < n; i++) h = createHash("sha256").update(h).digest();
  return new Uint8Array(h);
}

function referenceMixin(h: Uint8Array, mixin: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(h).update(mixin).digest());
}

function packOne(start: Uint8Array, numHashes: number, hash: Uint8Array, mixin: Uint8Array): PackedEntries {
  return {
    start,
    hashes: hash,
    numHashes: Float64Array.of(numHashes),
    mixins: mixin,
    mixinEnds: Uint32Array.of(mixin.length),
  };
}

const load = loadPohNative();

describe("loadPohNative", () => {
  it("returns the addon or the reason it has none, and the same answer every time", () => {
    expect(load.native === null).toBe(load.error !== null);
    expect(loadPohNative()).toBe(load);
    if (load.native) expect(load.native.kernels).toContain("portable");
  });
});

describe.runIf(load.native !== null)("the native addon", () => {
  const native = load.native as PohNative;
  const kernels: readonly ShaKernel[] = native.kernels;

  it.each(kernels)("%s: hashChain equals node:crypto's sha256 chain", (kernel) => {
    for (const n of [0, 1, 2, 3, 64, 1000]) {
      for (const start of [new Uint8Array(32), new Uint8Array(32).fill(0xff), randomBytes(32)]) {
        const state = new Uint8Array(start);
        native.hashChain(state, n, kernel);
        expect(Buffer.from(state).toString("hex")).toBe(
          Buffer.from(referenceChain(start, n)).toString("hex"),
        );
      }
    }
  });

  it.each(kernels)(
    "%s: hashMixin equals node:crypto's sha256(h ‖ mixin) for every padding case",
    (kernel) => {
      const start = randomBytes(32);
      for (let length = 0; length <= 200; length++) {
        const mixin = randomBytes(length);
        const state = new Uint8Array(start);
        native.hashMixin(state, mixin, kernel);
        expect(Buffer.from(state).equals(referenceMixin(start, mixin))).toBe(true);
      }
    },
  );

  it.each(kernels)("%s: hashMixin reads a mixin that is a view of the state itself", (kernel) => {
    const state = randomBytes(32);
    const expected = referenceMixin(state, state.subarray(8, 24));
    native.hashMixin(state, state.subarray(8, 24), kernel);
    expect(Buffer.from(state).equals(expected)).toBe(true);
  });

  it.each(kernels)("%s: hashChainAsync equals hashChain and copies its input at the call", async (kernel) => {
    const start = randomBytes(32);
    const expected = referenceChain(start, 5000);
    const pending = native.hashChainAsync(start, 5000, kernel);
    start.fill(0);
    expect(Buffer.from(await pending).equals(expected)).toBe(true);
  });

  it.each(kernels)("%s: firstInvalidEntry finds the first bad entry, sync and async", async (kernel) => {
    const start = randomBytes(32);
    const first = referenceChain(start, 3);
    const mixin = Uint8Array.of(1, 2, 3);
    const second = referenceMixin(referenceChain(first, 4), mixin);
    const entries: PackedEntries = {
      start,
      hashes: new Uint8Array([...first, ...second]),
      numHashes: Float64Array.of(3, 5),
      mixins: mixin,
      mixinEnds: Uint32Array.of(0, 3),
    };
    expect(native.firstInvalidEntry(entries, 0, kernel)).toBe(-1);
    expect(await native.firstInvalidEntryAsync(entries, 2, kernel)).toBe(-1);
    const tampered = { ...entries, numHashes: Float64Array.of(3, 4) };
    expect(native.firstInvalidEntry(tampered, 1, kernel)).toBe(1);
    expect(await native.firstInvalidEntryAsync(tampered, 0, kernel)).toBe(1);
    for (const count of [0, -1, 1.5, Number.NaN, 2 ** 53 + 2]) {
      expect(native.firstInvalidEntry({ ...entries, numHashes: Float64Array.of(count, 5) }, 0, kernel)).toBe(
        0,
      );
    }
  });

  it("rejects bad arguments with a TypeError or RangeError and leaves the state alone", () => {
    const state = randomBytes(32);
    const before = Buffer.from(state);
    expect(() => native.hashChain(new Uint8Array(31), 1, "portable")).toThrow(RangeError);
    expect(() => native.hashChain(state, -1, "portable")).toThrow(RangeError);
    expect(() => native.hashChain(state, 1.5, "portable")).toThrow(RangeError);
    expect(() => native.hashChain(state, 2 ** 53 + 2, "portable")).toThrow(RangeError);
    expect(() => native.hashChain(state, Number.NaN, "portable")).toThrow(RangeError);
    expect(() => native.hashChain(new Uint16Array(16) as unknown as Uint8Array, 1, "portable")).toThrow(
      TypeError,
    );
    expect(() => native.hashChain(state, "1" as unknown as number, "portable")).toThrow(TypeError);
    expect(() => native.hashChain(state, 1, "md5" as ShaKernel)).toThrow(TypeError);
    expect(() => native.hashMixin(state, [1, 2] as unknown as Uint8Array, "portable")).toThrow(TypeError);
    expect(Buffer.from(state).equals(before)).toBe(true);
  });

  it("rejects an inconsistent batch with a RangeError", async () => {
    const start = randomBytes(32);
    const good = packOne(start, 1, referenceChain(start, 1), new Uint8Array(0));
    expect(() => native.firstInvalidEntry({ ...good, hashes: new Uint8Array(31) }, 0, "portable")).toThrow(
      RangeError,
    );
    expect(() =>
      native.firstInvalidEntry({ ...good, numHashes: new Float64Array(2) }, 0, "portable"),
    ).toThrow(RangeError);
    expect(() => native.firstInvalidEntry({ ...good, mixinEnds: Uint32Array.of(1) }, 0, "portable")).toThrow(
      RangeError,
    );
    expect(() => native.firstInvalidEntry(good, -1, "portable")).toThrow(RangeError);
    expect(() => native.firstInvalidEntry(good, 0.5, "portable")).toThrow(RangeError);
    expect(() => native.firstInvalidEntryAsync({ ...good, start: new Uint8Array(3) }, 0, "portable")).toThrow(
      RangeError,
    );
    expect(await native.firstInvalidEntryAsync(good, 0, "portable")).toBe(-1);
  });
});
