import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PohEntry } from "./entry.js";
import { checkTickCounts } from "./tick.js";

const hash = new Uint8Array(32);
const tick = (numHashes: number): PohEntry => ({ numHashes, hash, mixin: null });
const record = (numHashes: number): PohEntry => ({ numHashes, hash, mixin: Uint8Array.of(1) });

describe("checkTickCounts", () => {
  it("accepts ticks of exactly hashesPerTick hashes, counting the entries between them", () => {
    expect(checkTickCounts([tick(10), record(3), record(1), tick(6), record(4)], 10)).toEqual({
      firstInvalid: -1,
      hashesIntoTick: 4,
      ticks: 2,
    });
  });

  it("rejects a tick that comes early or late", () => {
    expect(checkTickCounts([tick(10), tick(9)], 10).firstInvalid).toBe(1);
    expect(checkTickCounts([record(5), tick(6)], 10).firstInvalid).toBe(1);
  });

  it("rejects an entry with a mixin that reaches the tick's hash count", () => {
    expect(checkTickCounts([record(9)], 10).firstInvalid).toBe(-1);
    expect(checkTickCounts([record(10)], 10).firstInvalid).toBe(0);
    expect(checkTickCounts([record(4), record(6)], 10)).toEqual({
      firstInvalid: 1,
      hashesIntoTick: 4,
      ticks: 0,
    });
  });

  it("rejects an entry whose count is not a positive integer", () => {
    for (const numHashes of [0, -1, 2.5, Number.NaN]) {
      expect(checkTickCounts([record(2), record(numHashes)], 10).firstInvalid).toBe(1);
    }
  });

  it("carries the count of an unfinished tick from one batch into the next", () => {
    expect(checkTickCounts([record(3), tick(7)], 10, 0).firstInvalid).toBe(-1);
    expect(checkTickCounts([tick(7)], 10, 3)).toEqual({ firstInvalid: -1, hashesIntoTick: 0, ticks: 1 });
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(fc.integer({ min: 1, max: 12 }).map(record), fc.integer({ min: 1, max: 12 }).map(tick)),
        ),
        fc.nat(),
        (entries, cut) => {
          const split = entries.length === 0 ? 0 : cut % entries.length;
          const whole = checkTickCounts(entries, 12);
          const head = checkTickCounts(entries.slice(0, split), 12);
          if (head.firstInvalid >= 0) {
            expect(whole).toEqual(head);
            return;
          }
          const tail = checkTickCounts(entries.slice(split), 12, head.hashesIntoTick);
          expect(whole).toEqual({
            firstInvalid: tail.firstInvalid < 0 ? -1 : split + tail.firstInvalid,
            hashesIntoTick: tail.hashesIntoTick,
            ticks: head.ticks + tail.ticks,
          });
        },
      ),
    );
  });

  it("rejects a bad hashesPerTick or hashesIntoTick", () => {
    for (const hashesPerTick of [0, -1, 1.5, Number.NaN]) {
      expect(() => checkTickCounts([], hashesPerTick)).toThrow(RangeError);
    }
    for (const hashesIntoTick of [-1, 10, 1.5])
      expect(() => checkTickCounts([], 10, hashesIntoTick)).toThrow(RangeError);
  });
});
