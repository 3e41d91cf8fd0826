import {
  compareFeeRates,
  type FeeRate,
  itemComputeUnitLimit,
  itemFeeRate,
  itemTransactions,
  type ValidItem,
  type ValidTransaction,
} from "@simd23/core";
import type { tx } from "@simd23/proto";
import { PriorityQueue } from "@simd23/runtime";

/** An accepted item the proposers fed to the leaders (sync mode), as the leader keeps it. */
export interface FedItem {
  /** The hex id of its first transaction (the proposers' intake key). */
  readonly key: string;
  readonly item: tx.TransactionItem;
  readonly transactions: readonly ValidTransaction[];
  readonly feeRate: FeeRate;
  /** Σ compute-unit limits: what it counts against the slot's compute units. */
  readonly computeUnits: number;
  /** What it adds to a TransactionEntry: its encoding and a length prefix. */
  readonly bytes: number;
  /** When the feed stored it: it cannot outlive its blockhash, so it is forgotten a validity window later. */
  readonly arrivalMs: number;
  readonly arrivalSeq: number;
  /** The signature check, run off the event loop on arrival; undefined until it is done. */
  signaturesValid: boolean | undefined;
  /** Left the pool: a stale queue entry is skipped. */
  removed: boolean;
}

/** What the bank made of a taken item on the chain being built. */
export type ItemFate =
  /** It paid a fee: it is in this slot, so it is done on this chain. */
  | "executed"
  /** Refused without a fee for a reason that may pass later (its payer cannot pay yet, its blockhash is not on this chain). */
  | "retry"
  /** Already executed on this chain (Duplicate): nothing to do on it. */
  | "done-on-chain"
  /** It can never run (a signature fails, it does not decode): it leaves the pool. */
  | "invalid";

export interface TakeBudget {
  /** Compute units left in the slot. */
  readonly computeUnits: bigint;
  /** Bytes left for the TransactionEntry being filled. */
  readonly bytes: number;
  readonly maxItems: number;
}

/** Misfits in a row after which a take stops looking (the proposer's block assembly stops the same way). */
const MAX_MISFITS_IN_A_ROW = 64;

/** Higher fee rate first (exact rationals), then earlier arrival. */
function compareForExecution(a: FedItem, b: FedItem): number {
  return compareFeeRates(b.feeRate, a.feeRate) || a.arrivalSeq - b.arrivalSeq;
}

/** The FedItem of a structurally valid item (signatures not checked yet). */
export function fedItemOf(
  key: string,
  item: tx.TransactionItem,
  valid: ValidItem,
  encodedBytes: number,
  arrivalMs: number,
): Omit<FedItem, "arrivalSeq"> {
  return {
    key,
    item,
    transactions: itemTransactions(valid),
    feeRate: itemFeeRate(valid),
    computeUnits: itemComputeUnitLimit(valid),
    bytes: encodedBytes + 5,
    arrivalMs,
    signaturesValid: undefined,
    removed: false,
  };
}

/**
 * A sync leader's view of the feed: every item the proposers fed that is not
 * known done, and — for the chain the leader is building — a priority queue
 * of those not executed on it, best fee rate first. Building on another chain
 * than the last slot rebuilds the queue from the pool (the caller says what
 * that chain executed); an item the bank refused without a fee for a reason
 * that may pass waits for the next slot.
 */
export class FeedPool {
  private readonly items = new Map<string, FedItem>();
  private queue = new PriorityQueue<FedItem>(compareForExecution);
  private parked: FedItem[] = [];
  private chainTip: number | undefined;
  private sequence = 0;

  get size(): number {
    return this.items.size;
  }

  /** Items in the queue of the chain being built (stale entries included until they are popped). */
  get queued(): number {
    return this.queue.size;
  }

  has(key: string): boolean {
    return this.items.has(key);
  }

  /** A fed item; undefined when its key is known already (another copy of it was fed). */
  add(item: Omit<FedItem, "arrivalSeq">): FedItem | undefined {
    if (this.items.has(item.key)) return undefined;
    const added: FedItem = { ...item, arrivalSeq: ++this.sequence };
    this.items.set(added.key, added);
    this.queue.push(added);
    return added;
  }

  /** Forgets items (done on a rooted chain, or never executable). */
  remove(keys: Iterable<string>): number {
    let removed = 0;
    for (const key of keys) {
      const item = this.items.get(key);
      if (item === undefined) continue;
      item.removed = true;
      this.items.delete(key);
      removed += 1;
    }
    return removed;
  }

  /** Forgets items the feed stored before `timeMs`: their blockhash has expired. */
  removeArrivedBefore(timeMs: number): number {
    const old: string[] = [];
    for (const item of this.items.values()) if (item.arrivalMs < timeMs) old.push(item.key);
    return this.remove(old);
  }

  /**
   * Starts a slot on `parentSlot`. On the chain the queue follows (the leader's
   * previous slot) the items waiting since the last slot return to the queue;
   * on another chain the queue is rebuilt from every item that chain has not
   * executed.
   */
  beginSlot(parentSlot: number, slot: number, executedOnChain: (item: FedItem) => boolean): void {
    if (this.chainTip !== parentSlot) {
      this.queue = new PriorityQueue<FedItem>(compareForExecution);
      for (const item of this.items.values()) if (!executedOnChain(item)) this.queue.push(item);
    } else {
      for (const item of this.parked) if (!item.removed) this.queue.push(item);
    }
    this.parked = [];
    this.chainTip = slot;
  }

  /**
   * The best items that fit the budget, out of the queue (each must then be
   * settled or put back). An item too large for what is left is passed over
   * and stays queued; so does one whose signature check has not finished. The
   * take stops after 64 misfits in a row.
   */
  take(budget: TakeBudget): FedItem[] {
    const taken: FedItem[] = [];
    const passed: FedItem[] = [];
    let computeUnits = budget.computeUnits;
    let bytes = budget.bytes;
    let misfits = 0;
    while (taken.length < budget.maxItems && misfits < MAX_MISFITS_IN_A_ROW) {
      const item = this.queue.pop();
      if (item === undefined) break;
      if (item.removed) continue;
      if (
        item.signaturesValid === undefined ||
        BigInt(item.computeUnits) > computeUnits ||
        item.bytes > bytes
      ) {
        passed.push(item);
        misfits += 1;
        continue;
      }
      misfits = 0;
      taken.push(item);
      computeUnits -= BigInt(item.computeUnits);
      bytes -= item.bytes;
    }
    for (const item of passed) this.queue.push(item);
    return taken;
  }

  /** Items taken but not executed go back to the queue. */
  putBack(items: Iterable<FedItem>): void {
    for (const item of items) if (!item.removed) this.queue.push(item);
  }

  /** What the bank made of a taken item. */
  settle(item: FedItem, fate: ItemFate): void {
    if (fate === "retry") this.parked.push(item);
    else if (fate === "invalid") this.remove([item.key]);
  }
}
