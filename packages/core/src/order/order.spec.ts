import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareFeeRates, feeRateOf } from "../tx/fee.js";
import { parseOrderFile, parseOrderInput } from "./input.js";
import {
  type ExecutionUnit,
  executionOrderIds,
  type OrderBlock,
  OrderInputError,
  type OrderItem,
  orderUserBlockSlot,
  sortExecutionUnits,
} from "./order.js";

const tx = (id: string, cuPrice: bigint, pohPosition: number, cuLimit = 1_000): OrderItem => ({
  id,
  cuPrice,
  cuLimit,
  pohPosition,
});

const idsOf = (blocks: readonly OrderBlock[], executed?: (id: string) => boolean) =>
  executionOrderIds(orderUserBlockSlot(blocks, executed));

describe("execution order", () => {
  it("sorts by rate desc, then PoH position, then entry order, then index in the block", () => {
    const blocks: OrderBlock[] = [
      {
        proposer: "P2",
        entryIndex: 7,
        items: [
          tx("b-cheap", 1n, 10),
          tx("b-rich", 50n, 20),
          tx("b-tie-early", 10n, 5),
          tx("b-same-pos", 10n, 5),
        ],
      },
      {
        proposer: "P1",
        entryIndex: 3,
        items: [tx("a-tie-late", 10n, 9), tx("a-tie-early", 10n, 5), tx("a-rich", 50n, 20)],
      },
    ];
    expect(idsOf(blocks)).toEqual([
      "a-rich", // rate 50, poh 20, entry 3
      "b-rich", // rate 50, poh 20, entry 7
      "a-tie-early", // rate 10, poh 5, entry 3
      "b-tie-early", // rate 10, poh 5, entry 7, index 2
      "b-same-pos", // index 3
      "a-tie-late", // rate 10, poh 9
      "b-cheap",
    ]);
  });

  it("orders a bundle as one unit by Σ price·limit / Σ limit and keeps its transactions together", () => {
    const blocks: OrderBlock[] = [
      {
        proposer: "P",
        entryIndex: 0,
        items: [
          tx("t5", 5n, 1),
          // (10·100 + 2·300) / 400 = 4
          {
            bundle: [
              { id: "x", cuPrice: 10n, cuLimit: 100 },
              { id: "y", cuPrice: 2n, cuLimit: 300 },
            ],
            pohPosition: 0,
          },
          tx("t4", 4n, 1),
          tx("t3", 3n, 0),
        ],
      },
    ];
    expect(idsOf(blocks)).toEqual(["t5", "x", "y", "t4", "t3"]);
    const units = orderUserBlockSlot(blocks);
    expect(units[1]).toMatchObject({ bundle: true, ids: ["x", "y"], itemIndex: 1, pohPosition: 0 });
    expect(units[1]!.feeRate).toEqual({ microLamports: 1_600n, computeUnits: 400n });
  });

  it("compares rates exactly where floating point would tie or misorder them", () => {
    const big = 2n ** 53n;
    const blocks: OrderBlock[] = [
      {
        proposer: "P",
        entryIndex: 0,
        items: [
          tx("2^53", big, 0),
          tx("2^53+1", big + 1n, 5),
          // (10^17 + 1) / 3 and (10^17 + 2) / 3 are equal as doubles.
          {
            bundle: [
              { id: "c1", cuPrice: 10n ** 17n + 1n, cuLimit: 1 },
              { id: "c2", cuPrice: 0n, cuLimit: 2 },
            ],
            pohPosition: 0,
          },
          {
            bundle: [
              { id: "d1", cuPrice: 10n ** 17n + 2n, cuLimit: 1 },
              { id: "d2", cuPrice: 0n, cuLimit: 2 },
            ],
            pohPosition: 9,
          },
          // 1/3 against 2/6 is a true tie, broken by PoH position.
          {
            bundle: [
              { id: "third-late", cuPrice: 1n, cuLimit: 1 },
              { id: "zero-a", cuPrice: 0n, cuLimit: 2 },
            ],
            pohPosition: 4,
          },
          {
            bundle: [
              { id: "third-early", cuPrice: 1n, cuLimit: 2 },
              { id: "zero-b", cuPrice: 0n, cuLimit: 4 },
            ],
            pohPosition: 3,
          },
          tx("zero", 0n, 0),
          tx("max", (1n << 64n) - 1n, 100),
        ],
      },
    ];
    expect(Number(10n ** 17n + 1n) / 3).toBe(Number(10n ** 17n + 2n) / 3);
    expect(idsOf(blocks)).toEqual([
      "max",
      "d1",
      "d2",
      "c1",
      "c2",
      "2^53+1",
      "2^53",
      "third-early",
      "zero-b",
      "third-late",
      "zero-a",
      "zero",
    ]);
  });

  it("stays exact with denominators too large for double products", () => {
    const limit = 0xffff_ffff;
    const bundle = (id: string, first: bigint, pohPosition: number): OrderItem => ({
      bundle: [
        { id: `${id}1`, cuPrice: first, cuLimit: limit },
        { id: `${id}2`, cuPrice: 0n, cuLimit: limit },
        { id: `${id}3`, cuPrice: 0n, cuLimit: 1 },
      ],
      pohPosition,
    });
    // rates first·L / (2L + 1): 7·L/(2L+1) and 7·L/(2L+1) tie; 7 vs 8 differ in the fraction only.
    const units = sortExecutionUnits([
      { proposer: "P", entryIndex: 0, items: [bundle("a", 7n, 1), bundle("b", 8n, 2), bundle("c", 7n, 0)] },
    ]);
    expect(units.map((u) => u.ids[0])).toEqual(["b1", "c1", "a1"]);
  });

  it("skips a repeated id, and a bundle holding one as a whole", () => {
    const blocks: OrderBlock[] = [
      {
        proposer: "P",
        entryIndex: 0,
        items: [
          tx("a", 9n, 0),
          {
            bundle: [
              { id: "a", cuPrice: 8n, cuLimit: 1 },
              { id: "b", cuPrice: 8n, cuLimit: 1 },
            ],
            pohPosition: 0,
          },
          tx("b", 7n, 0),
          tx("a", 1n, 0),
          {
            bundle: [
              { id: "c", cuPrice: 1n, cuLimit: 1 },
              { id: "c", cuPrice: 1n, cuLimit: 1 },
            ],
            pohPosition: 5,
          },
          tx("old", 1n, 9),
        ],
      },
    ];
    const units = orderUserBlockSlot(blocks, (id) => id === "old");
    expect(units.map((u) => [u.ids.join("+"), u.duplicate])).toEqual([
      ["a", false],
      ["a+b", true],
      ["b", false], // the skipped bundle did not run b
      ["a", true],
      ["c+c", true],
      ["old", true],
    ]);
    expect(executionOrderIds(units)).toEqual(["a", "b"]);
  });

  it("rejects input it cannot order", () => {
    const bad: [OrderBlock[], RegExp][] = [
      [
        [
          { proposer: "P", entryIndex: 1, items: [] },
          { proposer: "Q", entryIndex: 1, items: [] },
        ],
        /blocks\[1\].entryIndex: 1 names two blocks/,
      ],
      [[{ proposer: "P", entryIndex: 0, items: [tx("a", 1n, 0, 0)] }], /items\[0\].cuLimit/],
      [[{ proposer: "P", entryIndex: 0, items: [tx("a", -1n, 0)] }], /items\[0\].cuPrice/],
      [[{ proposer: "P", entryIndex: 0, items: [tx("a", 1n, -1)] }], /items\[0\].pohPosition/],
      [[{ proposer: "P", entryIndex: 0, items: [{ bundle: [], pohPosition: 0 }] }], /items\[0\].bundle/],
    ];
    for (const [blocks, message] of bad) {
      expect(() => sortExecutionUnits(blocks)).toThrow(OrderInputError);
      expect(() => sortExecutionUnits(blocks)).toThrow(message);
    }
  });
});

const txArb = fc.record({
  id: fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"),
  cuPrice: fc.oneof(fc.bigInt({ min: 0n, max: 20n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  cuLimit: fc.oneof(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 0xffff_ffff })),
});
const itemArb: fc.Arbitrary<OrderItem> = fc.oneof(
  fc
    .record({ pohPosition: fc.nat(20) })
    .chain(({ pohPosition }) => txArb.map((t) => ({ ...t, pohPosition }))),
  fc.record({ bundle: fc.array(txArb, { minLength: 1, maxLength: 5 }), pohPosition: fc.nat(20) }),
);
const blocksArb = fc
  .uniqueArray(fc.nat(50), { maxLength: 6 })
  .chain((entries) =>
    fc.tuple(
      ...entries.map((entryIndex, p) =>
        fc
          .array(itemArb, { maxLength: 12 })
          .map((items): OrderBlock => ({ proposer: `P${p}`, entryIndex, items })),
      ),
    ),
  );

/** The specification, written naively: bigint rates and the four keys in order. */
function referenceCompare(a: ExecutionUnit, b: ExecutionUnit): number {
  return (
    -compareFeeRates(a.feeRate, b.feeRate) ||
    a.pohPosition - b.pohPosition ||
    a.entryIndex - b.entryIndex ||
    a.itemIndex - b.itemIndex
  );
}

describe("execution order properties", () => {
  it("does not depend on the order the blocks arrive in", () => {
    fc.assert(
      fc.property(
        blocksArb.chain((blocks) =>
          fc.tuple(fc.constant(blocks), fc.shuffledSubarray(blocks, { minLength: blocks.length })),
        ),
        ([blocks, shuffled]) => {
          const key = (bs: OrderBlock[]) =>
            orderUserBlockSlot(bs, (id) => id === "j").map((u) => [
              u.proposer,
              u.itemIndex,
              u.ids,
              u.duplicate,
            ]);
          expect(key(shuffled)).toEqual(key(blocks));
        },
      ),
    );
  });

  it("equals the naive specification with bigint cross-multiplication", () => {
    fc.assert(
      fc.property(blocksArb, (blocks) => {
        const units = sortExecutionUnits(blocks);
        const expected = [...units].sort(referenceCompare);
        expect(units).toEqual(expected);
        for (const unit of units) {
          const parts = blocks[unit.blockIndex]!.items[unit.itemIndex]!;
          const rate = feeRateOf(
            ("bundle" in parts ? parts.bundle : [parts]).map((t) => ({
              computeUnitLimit: t.cuLimit,
              computeUnitPrice: t.cuPrice,
            })),
          );
          expect(compareFeeRates(rate, unit.feeRate)).toBe(0);
        }
      }),
    );
  });

  it("runs every id at most once", () => {
    fc.assert(
      fc.property(blocksArb, (blocks) => {
        const ids = executionOrderIds(orderUserBlockSlot(blocks));
        expect(new Set(ids).size).toBe(ids.length);
      }),
    );
  });
});

describe("parseOrderInput", () => {
  const file = {
    blocks: [
      {
        proposer: "P1",
        entryIndex: 1,
        items: [
          { id: "a", cuPrice: 5, cuLimit: 100, pohPosition: 3 },
          { bundle: [{ id: "b", cuPrice: "18446744073709551615", cuLimit: 10 }], pohPosition: 4 },
        ],
      },
    ],
    alreadyExecuted: ["a"],
  };

  it("reads the documented JSON form, u64 prices as integers or decimal strings", () => {
    const input = parseOrderFile(JSON.stringify(file));
    expect(input.blocks[0]!.items[1]).toEqual({
      bundle: [{ id: "b", cuPrice: 18_446_744_073_709_551_615n, cuLimit: 10 }],
      pohPosition: 4,
    });
    expect([...input.alreadyExecuted]).toEqual(["a"]);
    const ids = executionOrderIds(orderUserBlockSlot(input.blocks, (id) => input.alreadyExecuted.has(id)));
    expect(ids).toEqual(["b"]);
    expect(parseOrderInput(file.blocks).alreadyExecuted.size).toBe(0);
  });

  it("names the first bad field", () => {
    expect(() => parseOrderFile("{")).toThrow(/input: not JSON/);
    expect(() =>
      parseOrderInput({ blocks: [{ proposer: "P", entryIndex: 0, items: [{ id: "a" }] }] }),
    ).toThrow(/blocks\[0\].items\[0\].pohPosition/);
    const tooBig = { id: "a", cuPrice: "18446744073709551616", cuLimit: 1, pohPosition: 0 };
    expect(() => parseOrderInput([{ proposer: "P", entryIndex: 0, items: [tooBig] }])).toThrow(
      /cuPrice: must be a u64/,
    );
    expect(() => parseOrderInput({ blocks: [], alreadyExecuted: [1] })).toThrow(/alreadyExecuted\[0\]/);
  });
});
