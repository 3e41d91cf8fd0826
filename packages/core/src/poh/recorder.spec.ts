import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { firstInvalidEntry, type PohEntry } from "./entry.js";
import { pohHashers } from "./hasher.js";
import { PohRecorder, PohRecorderError } from "./recorder.js";
import { checkTickCounts } from "./tick.js";

function referenceChain(start: Uint8Array, n: number): Uint8Array {
  let h = Buffer.from(start);
  for (let i = 0; i < n; i++) h = createHash("sha256").update(h).digest();
  return new Uint8Array(h);
}

const start = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);

type Step =
  | { readonly kind: "hash"; readonly n: number }
  | { readonly kind: "hashAsync"; readonly n: number }
  | { readonly kind: "record"; readonly mixin: Uint8Array }
  | { readonly kind: "tick" };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("hash" as const), n: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ kind: fc.constant("hashAsync" as const), n: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ kind: fc.constant("record" as const), mixin: fc.uint8Array({ minLength: 1, maxLength: 48 }) }),
  fc.record({ kind: fc.constant("tick" as const) }),
);

describe.each(pohHashers().map((hasher) => [hasher.implementation, hasher] as const))(
  "PohRecorder on %s",
  (_, hasher) => {
    it("counts the mixin hash in the entry it records and resets the count", () => {
      const recorder = new PohRecorder(start, { hasher });
      expect(recorder.implementation).toBe(hasher.implementation);
      expect(recorder.hash(5)).toBe(5);
      expect(recorder.hashesSinceEntry).toBe(5);
      const mixin = Uint8Array.of(4, 2);
      const entry = recorder.record(mixin);
      mixin[0] = 0;
      expect(entry.numHashes).toBe(6);
      expect(entry.mixin).toEqual(Uint8Array.of(4, 2));
      expect(entry.hash).toEqual(
        new Uint8Array(
          createHash("sha256").update(referenceChain(start, 5)).update(Uint8Array.of(4, 2)).digest(),
        ),
      );
      expect(recorder.currentHash).toEqual(entry.hash);
      expect(recorder.hashesSinceEntry).toBe(0);
    });

    it("ticks every hashesPerTick hashes: hash() stops where the tick is due and tick() ends it", () => {
      const recorder = new PohRecorder(start, { hasher, hashesPerTick: 100, tickHeight: 640 });
      expect(recorder.hash(1000)).toBe(99);
      expect(recorder.hashesUntilTick).toBe(0);
      expect(recorder.hash(1)).toBe(0);
      const tick = recorder.tick();
      expect(tick).toEqual({ numHashes: 100, hash: referenceChain(start, 100), mixin: null });
      expect(recorder.tickHeight).toBe(641);
      expect(recorder.hashesIntoTick).toBe(0);
      recorder.hash(10);
      recorder.record(Uint8Array.of(1));
      expect(recorder.tick().numHashes).toBe(89);
      expect(recorder.tickHeight).toBe(642);
    });

    it("without hashesPerTick, a tick is one plain hash", () => {
      const recorder = new PohRecorder(start, { hasher });
      expect(recorder.hashesUntilTick).toBe(Number.POSITIVE_INFINITY);
      recorder.hash(3);
      expect(recorder.tick()).toEqual({ numHashes: 4, hash: referenceChain(start, 4), mixin: null });
      expect(recorder.tickHeight).toBe(1);
    });

    it("refuses to record over the tick's own hash and changes nothing", () => {
      const recorder = new PohRecorder(start, { hasher, hashesPerTick: 8, hashesIntoTick: 6 });
      recorder.hash(5);
      const before = recorder.currentHash;
      expect(() => recorder.record(Uint8Array.of(1))).toThrow(PohRecorderError);
      expect(() => recorder.record(Uint8Array.of(1))).toThrow(expect.objectContaining({ code: "tick-due" }));
      expect(recorder.currentHash).toEqual(before);
      expect(recorder.hashesSinceEntry).toBe(1);
      expect(recorder.tick().numHashes).toBe(2);
    });

    it("is busy while hashAsync runs, then carries on from its result", async () => {
      const recorder = new PohRecorder(start, { hasher });
      const pending = recorder.hashAsync(70_000);
      expect(() => recorder.hash(1)).toThrow(expect.objectContaining({ code: "busy" }));
      expect(() => recorder.record(Uint8Array.of(1))).toThrow(expect.objectContaining({ code: "busy" }));
      expect(() => recorder.tick()).toThrow(expect.objectContaining({ code: "busy" }));
      expect(recorder.hashesSinceEntry).toBe(0);
      expect(await pending).toBe(70_000);
      expect(recorder.tick()).toEqual({
        numHashes: 70_001,
        hash: referenceChain(start, 70_001),
        mixin: null,
      });
    });

    it("copies what it is given and what it returns", () => {
      const buffer = Buffer.from(start);
      const mixin = Buffer.from([1, 2, 3]);
      const recorder = new PohRecorder(buffer, { hasher });
      recorder.hash(3);
      const entry = recorder.record(mixin);
      mixin[0] = 9;
      recorder.currentHash.fill(0);
      expect(buffer.equals(start)).toBe(true);
      expect(entry.mixin).toEqual(Uint8Array.of(1, 2, 3));
      expect(recorder.currentHash).toEqual(entry.hash);
    });

    it("rejects bad input with a RangeError and changes nothing", () => {
      expect(() => new PohRecorder(new Uint8Array(8), { hasher })).toThrow(RangeError);
      expect(() => new PohRecorder(start, { hasher, hashesPerTick: 0 })).toThrow(RangeError);
      expect(() => new PohRecorder(start, { hasher, hashesPerTick: 10, hashesIntoTick: 10 })).toThrow(
        RangeError,
      );
      expect(() => new PohRecorder(start, { hasher, tickHeight: -1 })).toThrow(RangeError);
      const recorder = new PohRecorder(start, { hasher });
      expect(() => recorder.hash(-1)).toThrow(RangeError);
      expect(() => recorder.hash(0.5)).toThrow(RangeError);
      expect(() => recorder.record(new Uint8Array(0))).toThrow(RangeError);
      expect(recorder.currentHash).toEqual(start);
      expect(recorder.hashesSinceEntry).toBe(0);
    });

    it("returns entries that verify and keep the tick rule, whatever the calls", async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(stepArbitrary, { maxLength: 30 }),
          fc.option(fc.integer({ min: 2, max: 50 }), { nil: undefined }),
          async (steps, hashesPerTick) => {
            const recorder = new PohRecorder(start, { hasher, ...(hashesPerTick ? { hashesPerTick } : {}) });
            const entries: PohEntry[] = [];
            let ticks = 0;
            for (const step of steps) {
              if (step.kind === "hash") recorder.hash(step.n);
              else if (step.kind === "hashAsync") await recorder.hashAsync(step.n);
              else if (step.kind === "tick") {
                entries.push(recorder.tick());
                ticks++;
              } else if (recorder.hashesUntilTick > 0) entries.push(recorder.record(step.mixin));
            }
            expect(firstInvalidEntry(start, entries, { hasher })).toBe(-1);
            expect(recorder.tickHeight).toBe(ticks);
            const sinceLastEntry = recorder.hashesSinceEntry;
            expect(referenceChain(entries.at(-1)?.hash ?? start, sinceLastEntry)).toEqual(
              recorder.currentHash,
            );
            if (hashesPerTick) {
              expect(checkTickCounts(entries, hashesPerTick)).toEqual({
                firstInvalid: -1,
                hashesIntoTick: recorder.hashesIntoTick - sinceLastEntry,
                ticks,
              });
            }
          },
        ),
        { numRuns: 40 },
      );
    });
  },
);
