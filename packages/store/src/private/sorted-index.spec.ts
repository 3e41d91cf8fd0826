import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { IndexEntry } from "../store.js";
import { MinHeap } from "./min-heap.js";
import { compareCodePoints, SortedIndex } from "./sorted-index.js";

describe("compareCodePoints", () => {
  it("orders strings as their UTF-8 bytes order", () => {
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), fc.string({ unit: "grapheme" }), (a, b) => {
        expect(Math.sign(compareCodePoints(a, b))).toBe(
          Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))),
        );
      }),
    );
    expect(compareCodePoints("\uFFFF", "\u{1F600}")).toBeLessThan(0);
    expect("\uFFFF" < "\u{1F600}").toBe(false);
  });
});

describe("SortedIndex", () => {
  type Step = { add: [string, number] } | { remove: string } | { below: number } | { keep: number };
  const member = fc.constantFrom("a", "b", "c", "ab", "é", "\u{1F600}");
  const score = fc.integer({ min: -3, max: 3 });
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ add: fc.tuple(member, score) }),
    fc.record({ remove: member }),
    fc.record({ below: score }),
    fc.record({ keep: fc.nat(4) }),
  );

  function sorted(model: Map<string, number>): IndexEntry[] {
    return [...model]
      .map(([m, s]) => ({ member: m, score: s }))
      .sort((x, y) => x.score - y.score || compareCodePoints(x.member, y.member));
  }

  it("matches a naive sorted model under adds, removes, trims and ranges", () => {
    fc.assert(
      fc.property(
        fc.array(step, { maxLength: 40 }),
        score,
        score,
        fc.boolean(),
        fc.nat(3),
        fc.option(fc.nat(4), { nil: undefined }),
        (steps, min, max, descending, offset, limit) => {
          const index = new SortedIndex();
          const model = new Map<string, number>();
          for (const s of steps) {
            if ("add" in s) {
              expect(index.add(...s.add)).toBe(!model.has(s.add[0]));
              model.set(...s.add);
            } else if ("remove" in s) {
              expect(index.remove(s.remove)).toBe(model.delete(s.remove));
            } else if ("below" in s) {
              const doomed = sorted(model).filter((e) => e.score < s.below);
              for (const e of doomed) model.delete(e.member);
              expect(index.removeBelow(s.below)).toBe(doomed.length);
            } else {
              const doomed = sorted(model).slice(0, Math.max(0, model.size - s.keep));
              for (const e of doomed) model.delete(e.member);
              expect(index.keepHighest(s.keep)).toBe(doomed.length);
            }
            expect(index.size).toBe(model.size);
          }
          const inRange = sorted(model).filter((e) => e.score >= min && e.score <= max);
          const ordered = descending ? inRange.reverse() : inRange;
          const expected = ordered.slice(offset, limit === undefined ? undefined : offset + limit);
          expect(index.range(min, max, descending ? "desc" : "asc", offset, limit)).toEqual(expected);
          for (const [m, s] of model) expect(index.score(m)).toBe(s);
        },
      ),
    );
  });
});

describe("MinHeap", () => {
  it("pops items in priority order", () => {
    fc.assert(
      fc.property(fc.array(fc.integer()), (priorities) => {
        const heap = new MinHeap<number>();
        priorities.forEach((priority, item) => {
          heap.push(priority, item);
        });
        const popped: number[] = [];
        for (let item = heap.pop(); item !== undefined; item = heap.pop()) popped.push(priorities[item]!);
        expect(popped).toEqual([...priorities].sort((x, y) => x - y));
        expect(heap.size).toBe(0);
      }),
    );
  });
});
