import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareFeeRates, feeRateOf, priorityFee, transactionFee } from "./fee.js";

const fees = { lamportsPerSignature: 5_000n };

describe("transactionFee", () => {
  it("base fee is lamportsPerSignature per signature", () => {
    expect(transactionFee({ signatureCount: 1, computeUnitLimit: 1, computeUnitPrice: 0n }, fees)).toEqual({
      base: 5_000n,
      priority: 0n,
      total: 5_000n,
    });
    expect(
      transactionFee({ signatureCount: 3, computeUnitLimit: 200_000, computeUnitPrice: 10n }, fees),
    ).toEqual({
      base: 15_000n,
      priority: 2n,
      total: 15_002n,
    });
  });

  it("priority fee is ceil(limit × price / 1,000,000) lamports", () => {
    const vectors: [number, bigint, bigint][] = [
      [200_000, 0n, 0n],
      [200_000, 1n, 1n], // 0.2 rounds up
      [1_000_000, 1n, 1n],
      [1_000_001, 1n, 2n],
      [1, 999_999n, 1n],
      [1, 1_000_000n, 1n],
      [1, 1_000_001n, 2n],
      [1_400_000, 10_000n, 14_000n],
      [1_400_000, 18_446_744_073_709_551_615n, 25_825_441_703_193_372_261n],
    ];
    for (const [limit, price, expected] of vectors) expect(priorityFee(limit, price)).toBe(expected);
  });

  it("is never less than the exact micro-lamport amount and never a lamport more", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_400_000 }),
        fc.bigInt({ min: 0n, max: 1n << 64n }),
        (limit, price) => {
          const fee = priorityFee(limit, price) * 1_000_000n;
          const exact = BigInt(limit) * price;
          expect(fee >= exact && fee - exact < 1_000_000n).toBe(true);
        },
      ),
    );
  });
});

describe("fee rates", () => {
  it("a transaction's rate is its price; a bundle's is Σ price·limit / Σ limit", () => {
    const single = feeRateOf([{ computeUnitLimit: 300, computeUnitPrice: 7n }]);
    expect(compareFeeRates(single, { microLamports: 7n, computeUnits: 1n })).toBe(0);
    const bundle = feeRateOf([
      { computeUnitLimit: 100, computeUnitPrice: 10n },
      { computeUnitLimit: 300, computeUnitPrice: 2n },
    ]);
    expect(bundle).toEqual({ microLamports: 1_600n, computeUnits: 400n });
    expect(compareFeeRates(bundle, { microLamports: 4n, computeUnits: 1n })).toBe(0);
    expect(() => feeRateOf([])).toThrow(RangeError);
  });

  it("compares exactly where floating point cannot tell the rates apart", () => {
    const big = 2n ** 53n;
    const a = { microLamports: big + 1n, computeUnits: 1n };
    const b = { microLamports: big, computeUnits: 1n };
    expect(Number(a.microLamports) / Number(a.computeUnits)).toBe(
      Number(b.microLamports) / Number(b.computeUnits),
    );
    expect(compareFeeRates(a, b)).toBe(1);
    expect(compareFeeRates(b, a)).toBe(-1);

    // (10^17 + 1) / 3 against (10^17 + 2) / 3: one part in 10^17 apart.
    const c = feeRateOf([
      { computeUnitLimit: 1, computeUnitPrice: 10n ** 17n + 1n },
      { computeUnitLimit: 2, computeUnitPrice: 0n },
    ]);
    const d = feeRateOf([
      { computeUnitLimit: 1, computeUnitPrice: 10n ** 17n + 2n },
      { computeUnitLimit: 2, computeUnitPrice: 0n },
    ]);
    expect(Number(c.microLamports) / 3).toBe(Number(d.microLamports) / 3);
    expect(compareFeeRates(c, d)).toBe(-1);

    // 1/3 + 1/3 + 1/3 is exactly 1 as a rational, not 0.9999… as floats.
    const thirds = { microLamports: 1n, computeUnits: 3n };
    const sum = { microLamports: 3n, computeUnits: 9n };
    expect(compareFeeRates(thirds, sum)).toBe(0);
    expect(0.1 + 0.2 === 0.3).toBe(false);
    expect(
      compareFeeRates(
        { microLamports: 3n, computeUnits: 10n },
        { microLamports: 1n + 2n, computeUnits: 10n },
      ),
    ).toBe(0);
  });

  it("is a total order consistent with rational arithmetic", () => {
    const rate = fc
      .record({
        microLamports: fc.bigInt({ min: 0n, max: 1n << 70n }),
        computeUnits: fc.bigInt({ min: 1n, max: 1n << 40n }),
      })
      .map((r) => r);
    fc.assert(
      fc.property(rate, rate, rate, (a, b, c) => {
        expect(compareFeeRates(a, b)).toBe(-compareFeeRates(b, a));
        if (compareFeeRates(a, b) <= 0 && compareFeeRates(b, c) <= 0)
          expect(compareFeeRates(a, c)).toBeLessThanOrEqual(0);
        const scaled = { microLamports: a.microLamports * 7n, computeUnits: a.computeUnits * 7n };
        expect(compareFeeRates(a, scaled)).toBe(0);
      }),
    );
  });
});
