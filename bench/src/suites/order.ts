import {
  compareFeeRates,
  type FeeRate,
  feeRateOf,
  type OrderBlock,
  type OrderItem,
  orderUserBlockSlot,
  sortExecutionUnits,
} from "@simd23/core";
import { type Figure, measureRate, type Suite } from "../harness.js";

const TRANSACTIONS = 100_000;
const BLOCK_COUNTS = [1, 16, 64];
const MEASURE_MS = 1_500;

/** mulberry32: a fixed seed makes every run order the same input. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * 100,000 transactions over `blocks` UserBlocks: prices from a few popular
 * levels (so many ties fall through to the PoH keys) and a long tail, limits
 * as clients set them, one bundle of 2–5 transactions in every 20 items, and
 * PoH positions rising through each block in entries of up to 64 items.
 */
function workload(blocks: number): OrderBlock[] {
  const next = random(blocks);
  const perBlock = Math.ceil(TRANSACTIONS / blocks);
  let id = 0;
  const transaction = () => {
    const popular = [0n, 1n, 1_000n, 10_000n, 100_000n];
    const cuPrice =
      next() < 0.6 ? popular[Math.floor(next() * popular.length)]! : BigInt(Math.floor(next() * 5e6));
    const cuLimit = [200, 1_400, 20_000, 200_000, 1_400_000][Math.floor(next() * 5)]!;
    return { id: `tx${id++}`, cuPrice, cuLimit };
  };
  return Array.from({ length: blocks }, (_, b) => {
    const items: OrderItem[] = [];
    let position = 0;
    let inBlock = 0;
    while (inBlock < perBlock && id < TRANSACTIONS) {
      if (items.length % 64 === 0) position += 1 + Math.floor(next() * 1_000);
      if (next() < 0.05) {
        const size = Math.min(2 + Math.floor(next() * 4), TRANSACTIONS - id);
        items.push({ bundle: Array.from({ length: size }, transaction), pohPosition: position });
        inBlock += size;
      } else {
        items.push({ ...transaction(), pohPosition: position });
        inBlock += 1;
      }
    }
    return { proposer: `proposer-${b}`, entryIndex: b, items };
  });
}

interface NaiveUnit {
  readonly feeRate: FeeRate;
  readonly pohPosition: number;
  readonly entryIndex: number;
  readonly itemIndex: number;
}

/** The rule as written, without validation: bigint cross-multiplication in every comparison. */
function naiveSort(blocks: readonly OrderBlock[]): NaiveUnit[] {
  const units: NaiveUnit[] = [];
  for (const block of blocks) {
    block.items.forEach((item, itemIndex) => {
      const parts = "bundle" in item ? item.bundle : [item];
      const feeRate = feeRateOf(
        parts.map((t) => ({ computeUnitLimit: t.cuLimit, computeUnitPrice: t.cuPrice })),
      );
      units.push({ feeRate, pohPosition: item.pohPosition, entryIndex: block.entryIndex, itemIndex });
    });
  }
  return units.sort(
    (a, b) =>
      -compareFeeRates(a.feeRate, b.feeRate) ||
      a.pohPosition - b.pohPosition ||
      a.entryIndex - b.entryIndex ||
      a.itemIndex - b.itemIndex,
  );
}

const suite: Suite = {
  name: "order",
  description:
    `Execution order of one UserBlockSlot: ${TRANSACTIONS.toLocaleString("en")} transactions (5% of items bundles) ` +
    `across ${BLOCK_COUNTS.join(", ")} UserBlocks, sorted by exact fee rate, PoH position, entry order and index, ` +
    "with duplicate marking. Baseline: a plain comparator sort of 100,000 random doubles " +
    "(`Array.prototype.sort((a, b) => a - b)`), the least any comparison sort of this size costs in JS; and the " +
    "same order computed with bigint cross-multiplication in every comparison.",
  async run(): Promise<Figure[]> {
    const next = random(7);
    const keys = Array.from({ length: TRANSACTIONS }, () => next());
    const baseline = await measureRate(() => {
      [...keys].sort((a, b) => a - b);
      return TRANSACTIONS;
    }, MEASURE_MS);
    const figures: Figure[] = [];
    for (const count of BLOCK_COUNTS) {
      const blocks = workload(count);
      const rate = await measureRate(() => {
        orderUserBlockSlot(blocks);
        return TRANSACTIONS;
      }, MEASURE_MS);
      figures.push({
        name: `order ${TRANSACTIONS.toLocaleString("en")} transactions, ${count} blocks`,
        value: rate,
        unit: "transactions/s",
        baseline: { name: "numeric sort of 100,000 keys", value: baseline },
        note: `${(TRANSACTIONS / rate) * 1_000 < 1 ? "<1" : ((TRANSACTIONS / rate) * 1_000).toFixed(0)} ms per UserBlockSlot`,
      });
    }
    const blocks = workload(16);
    const exact = await measureRate(() => {
      sortExecutionUnits(blocks);
      return TRANSACTIONS;
    }, MEASURE_MS);
    const naive = await measureRate(() => {
      naiveSort(blocks);
      return TRANSACTIONS;
    }, MEASURE_MS);
    figures.push({
      name: "sort with precomputed exact keys, 16 blocks",
      value: exact,
      unit: "transactions/s",
      baseline: { name: "bigint cross-multiplication per comparison", value: naive },
    });
    return figures;
  },
};

export default suite;
