import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PriorityQueue } from "./priority-queue.js";

describe("PriorityQueue", () => {
  it("pops in comparator order, whatever the pushes, and removeWhere keeps the rest in order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: -50, max: 50 })),
        fc.integer({ min: 2, max: 5 }),
        (values, k) => {
          const queue = new PriorityQueue<number>((a, b) => b - a);
          for (const value of values) queue.push(value);
          expect(queue.size).toBe(values.length);
          const removed = queue.removeWhere((v) => v % k === 0);
          expect(removed.sort((a, b) => a - b)).toEqual(
            values.filter((v) => v % k === 0).sort((a, b) => a - b),
          );
          const popped: number[] = [];
          for (let v = queue.pop(); v !== undefined; v = queue.pop()) popped.push(v);
          expect(popped).toEqual(values.filter((v) => v % k !== 0).sort((a, b) => b - a));
        },
      ),
    );
  });
});
