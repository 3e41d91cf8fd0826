import { type FeeRate, feeRateOf } from "../tx/fee.js";

/**
 * The execution order of one UserBlockSlot (design.md §7), on plain data so
 * the bank, the CLI and the bench all feed it the same way.
 */

/** A transaction as ordering sees it: its id (any unique text), price and limit. */
export interface OrderTransaction {
  readonly id: string;
  /** Micro-lamports per compute unit. */
  readonly cuPrice: bigint;
  readonly cuLimit: number;
}

export interface OrderTransactionItem extends OrderTransaction {
  /** The hash count of the item's entry inside its UserBlock's PoH. */
  readonly pohPosition: number;
}

export interface OrderBundleItem {
  readonly bundle: readonly OrderTransaction[];
  readonly pohPosition: number;
}

export type OrderItem = OrderTransactionItem | OrderBundleItem;

/** One UserBlock recorded for the UserBlockSlot. */
export interface OrderBlock {
  readonly proposer: string;
  /** Position of the block's UserBlockEntry in the leader's PoH; distinct per block. */
  readonly entryIndex: number;
  /** Items in block order (entries flattened, in their order). */
  readonly items: readonly OrderItem[];
}

/** A transaction or bundle in execution order. */
export interface ExecutionUnit {
  /** Index of the block in the input array and of the item in the block. */
  readonly blockIndex: number;
  readonly itemIndex: number;
  readonly proposer: string;
  readonly entryIndex: number;
  readonly pohPosition: number;
  readonly bundle: boolean;
  /** Transaction ids, in the bundle's own order. */
  readonly ids: readonly string[];
  readonly feeRate: FeeRate;
}

export interface OrderedUnit extends ExecutionUnit {
  /** Skipped with status Duplicate: an id ran earlier in this order or already ran on the fork. */
  readonly duplicate: boolean;
}

export class OrderInputError extends Error {
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = "OrderInputError";
  }
}

const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;
const TWO_POW_32 = 2 ** 32;
/** Below this, rem·den of two fee rates stays under 2^53 and compares exactly as a double. */
const EXACT_DENOMINATOR = 2 ** 26;

/** The first field of t that is invalid, or null; error paths are built only on failure. */
function invalidField(t: OrderTransaction): string | null {
  if (typeof t.id !== "string") return "id";
  if (typeof t.cuPrice !== "bigint" || t.cuPrice < 0n || t.cuPrice > U64_MAX) return "cuPrice";
  if (!Number.isInteger(t.cuLimit) || t.cuLimit < 1 || t.cuLimit > U32_MAX) return "cuLimit";
  return null;
}

const FIELD_RULES: Record<string, string> = {
  id: "must be a string",
  cuPrice: "must be a u64 (bigint)",
  cuLimit: "must be an integer from 1 to 2^32-1",
};

const itemPath = (block: number, item: number, inBundle?: number): string =>
  `blocks[${block}].items[${item}]${inBundle === undefined ? "" : `.bundle[${inBundle}]`}`;

function checkTransaction(t: OrderTransaction, block: number, item: number, inBundle?: number): void {
  const field = invalidField(t);
  if (field !== null)
    throw new OrderInputError(`${itemPath(block, item, inBundle)}.${field}`, FIELD_RULES[field]!);
}

const isPosition = (value: number): boolean => Number.isSafeInteger(value) && value >= 0;

/** An ExecutionUnit whose skip mark orderUserBlockSlot fills in; its fee rate is computed when asked for. */
class Unit implements OrderedUnit {
  duplicate = false;
  private rate: FeeRate | undefined;

  constructor(
    readonly blockIndex: number,
    readonly itemIndex: number,
    readonly proposer: string,
    readonly entryIndex: number,
    readonly pohPosition: number,
    readonly bundle: boolean,
    readonly ids: readonly string[],
    private readonly source: OrderItem,
  ) {}

  get feeRate(): FeeRate {
    if (this.rate === undefined) {
      const parts = "bundle" in this.source ? this.source.bundle : [this.source];
      this.rate = feeRateOf(parts.map((t) => ({ computeUnitLimit: t.cuLimit, computeUnitPrice: t.cuPrice })));
    }
    return this.rate;
  }
}

/**
 * Sorts the items of every block recorded for a UserBlockSlot into execution
 * order: priority fee rate descending (exact rationals), then PoH position in
 * the block ascending, then the block's UserBlockEntry position ascending, then
 * the index in the block. The order depends only on the blocks, not on the
 * order they are given in. Throws an OrderInputError on invalid input.
 *
 * Each rate p/q is split once into an integer part (two 32-bit halves) and a
 * remainder, so comparisons are exact on numbers: a remainder times a
 * denominator stays below 2^53 when both denominators are below 2^26, and
 * larger ones fall back to bigint cross-multiplication. The result equals
 * sorting by compareFeeRates (the order spec checks it).
 */
export function sortExecutionUnits(blocks: readonly OrderBlock[]): ExecutionUnit[] {
  return sortUnits(blocks);
}

function sortUnits(blocks: readonly OrderBlock[]): Unit[] {
  const entries = new Set<number>();
  let total = 0;
  for (let b = 0; b < blocks.length; b++) {
    const block = blocks[b]!;
    if (!isPosition(block.entryIndex))
      throw new OrderInputError(`blocks[${b}].entryIndex`, "must be a non-negative integer");
    if (entries.has(block.entryIndex))
      throw new OrderInputError(`blocks[${b}].entryIndex`, `${block.entryIndex} names two blocks`);
    entries.add(block.entryIndex);
    total += block.items.length;
  }
  const quotientHigh = new Float64Array(total);
  const quotientLow = new Float64Array(total);
  const remainder = new Float64Array(total);
  const denominator = new Float64Array(total);
  const pohPosition = new Float64Array(total);
  const entryIndex = new Float64Array(total);
  const itemIndex = new Float64Array(total);
  const units: Unit[] = new Array(total);
  let n = 0;
  for (let b = 0; b < blocks.length; b++) {
    const block = blocks[b]!;
    const items = block.items;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (!isPosition(item.pohPosition))
        throw new OrderInputError(`${itemPath(b, i)}.pohPosition`, "must be a non-negative integer");
      let computeUnits: number;
      let ids: string[];
      let quotient: number;
      if ("bundle" in item) {
        const parts = item.bundle;
        if (!Array.isArray(parts) || parts.length === 0)
          throw new OrderInputError(`${itemPath(b, i)}.bundle`, "must hold at least one transaction");
        let microLamports = 0n;
        computeUnits = 0;
        ids = new Array(parts.length);
        for (let j = 0; j < parts.length; j++) {
          const t = parts[j]!;
          checkTransaction(t, b, i, j);
          microLamports += t.cuPrice * BigInt(t.cuLimit);
          computeUnits += t.cuLimit;
          ids[j] = t.id;
        }
        const exactQuotient = microLamports / BigInt(computeUnits);
        remainder[n] = Number(microLamports - exactQuotient * BigInt(computeUnits));
        quotient = Number(exactQuotient);
        if (quotient > Number.MAX_SAFE_INTEGER) {
          quotientHigh[n] = Number(exactQuotient >> 32n);
          quotientLow[n] = Number(exactQuotient & 0xffff_ffffn);
        }
      } else {
        checkTransaction(item, b, i);
        ids = [item.id];
        computeUnits = item.cuLimit;
        quotient = Number(item.cuPrice);
        remainder[n] = 0;
        if (quotient > Number.MAX_SAFE_INTEGER) {
          quotientHigh[n] = Number(item.cuPrice >> 32n);
          quotientLow[n] = Number(item.cuPrice & 0xffff_ffffn);
        }
      }
      if (quotient <= Number.MAX_SAFE_INTEGER) {
        const high = Math.floor(quotient / TWO_POW_32);
        quotientHigh[n] = high;
        quotientLow[n] = quotient - high * TWO_POW_32;
      }
      denominator[n] = computeUnits;
      pohPosition[n] = item.pohPosition;
      entryIndex[n] = block.entryIndex;
      itemIndex[n] = i;
      units[n] = new Unit(
        b,
        i,
        block.proposer,
        block.entryIndex,
        item.pohPosition,
        "bundle" in item,
        ids,
        item,
      );
      n++;
    }
  }
  const compareFractions = (a: number, b: number): number => {
    const ra = remainder[a]!;
    const rb = remainder[b]!;
    const da = denominator[a]!;
    const db = denominator[b]!;
    if (da < EXACT_DENOMINATOR && db < EXACT_DENOMINATOR) return ra * db - rb * da;
    const left = BigInt(ra) * BigInt(db);
    const right = BigInt(rb) * BigInt(da);
    return left < right ? -1 : left > right ? 1 : 0;
  };
  const order = Array.from({ length: total }, (_, i) => i);
  order.sort((a, b) => {
    if (quotientHigh[a] !== quotientHigh[b]) return quotientHigh[b]! - quotientHigh[a]!;
    if (quotientLow[a] !== quotientLow[b]) return quotientLow[b]! - quotientLow[a]!;
    if (remainder[a] !== 0 || remainder[b] !== 0) {
      const fraction = compareFractions(a, b);
      if (fraction !== 0) return -fraction;
    }
    if (pohPosition[a] !== pohPosition[b]) return pohPosition[a]! - pohPosition[b]!;
    if (entryIndex[a] !== entryIndex[b]) return entryIndex[a]! - entryIndex[b]!;
    return itemIndex[a]! - itemIndex[b]!;
  });
  return order.map((i) => units[i]!);
}

/**
 * The execution order with skip marks: a unit holding an id that ran earlier in
 * this order, ran already on the fork (alreadyExecuted), or repeats inside the
 * unit is skipped whole as Duplicate; its other ids stay free to run later.
 * This assumes every unit that is not skipped runs; the bank refines it with
 * what actually paid a fee (docs/protocol.md §9).
 */
export function orderUserBlockSlot(
  blocks: readonly OrderBlock[],
  alreadyExecuted: (id: string) => boolean = () => false,
): OrderedUnit[] {
  const executed = new Set<string>();
  const units = sortUnits(blocks);
  for (const unit of units) {
    const { ids } = unit;
    let duplicate = ids.length > 1 && new Set(ids).size !== ids.length;
    for (let k = 0; k < ids.length && !duplicate; k++)
      duplicate = executed.has(ids[k]!) || alreadyExecuted(ids[k]!);
    unit.duplicate = duplicate;
    if (!duplicate) for (const id of ids) executed.add(id);
  }
  return units;
}

/** The ids that execute, in order, a bundle's together: what `simd23 order` prints, one per line. */
export function executionOrderIds(units: readonly OrderedUnit[]): string[] {
  const ids: string[] = [];
  for (const unit of units) if (!unit.duplicate) ids.push(...unit.ids);
  return ids;
}
