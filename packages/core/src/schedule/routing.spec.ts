import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { feePayerRouteIndex, routeTransaction } from "./routing.js";

const payer = (prefix: number[]) => Uint8Array.from([...prefix, ...new Array(32 - prefix.length).fill(0xab)]);

describe("fee-payer routing", () => {
  it("takes floor(u32be(feePayer[0..4]) · n / 2^32)", () => {
    expect(feePayerRouteIndex(payer([0, 0, 0, 0]), 5)).toBe(0);
    expect(feePayerRouteIndex(payer([0xff, 0xff, 0xff, 0xff]), 5)).toBe(4);
    expect(feePayerRouteIndex(payer([0x80, 0, 0, 0]), 2)).toBe(1);
    expect(feePayerRouteIndex(payer([0x7f, 0xff, 0xff, 0xff]), 2)).toBe(0);
    // 0x80000000 · 3 / 2^32 = 1.5
    expect(feePayerRouteIndex(payer([0x80, 0, 0, 0]), 3)).toBe(1);
    // 0x55555556 · 3 / 2^32 just exceeds 1: big-endian, not little-endian.
    expect(feePayerRouteIndex(payer([0x55, 0x55, 0x55, 0x56]), 3)).toBe(1);
    expect(feePayerRouteIndex(payer([0x55, 0x55, 0x55, 0x55]), 3)).toBe(0);
  });

  it("maps every fee payer into the set, monotonically in its prefix", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 1, max: 64 }),
        (key, n) => {
          const index = feePayerRouteIndex(key, n);
          expect(index).toBeGreaterThanOrEqual(0);
          expect(index).toBeLessThan(n);
          const prefix = new DataView(key.buffer).getUint32(0);
          expect(index).toBe(Math.floor((prefix * n) / 2 ** 32));
        },
      ),
    );
  });

  it("spreads fee payers evenly over the active set", () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4096; i++) counts[feePayerRouteIndex(payer([i >> 4, (i & 15) << 4, 0, 0]), 4)]!++;
    expect(counts).toEqual([1024, 1024, 1024, 1024]);
  });

  it("routes to the proposer at that index, or nowhere when none is active", () => {
    const set = [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)];
    expect(routeTransaction(payer([0xc0]), set)).toBe(set[1]);
    expect(routeTransaction(payer([0x10]), set)).toBe(set[0]);
    expect(routeTransaction(payer([0x10]), [])).toBeUndefined();
    expect(() => feePayerRouteIndex(payer([0]), 0)).toThrow(RangeError);
  });
});
