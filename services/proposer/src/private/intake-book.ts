import type { SpanContext } from "@opentelemetry/api";
import type { DeliveredMessage } from "@simd23/bus";
import { compareFeeRates, type FeeRate } from "@simd23/core";
import type { tx } from "@simd23/proto";
import { PriorityQueue } from "@simd23/runtime";

/**
 * Where an accepted transaction is: `storing` while its INTAKE publish is in
 * flight (it counts against the queue but cannot be proposed yet), `waiting`
 * for a UserBlock, `proposed` in a published UserBlock whose recording is not
 * decided yet. Sync mode has no UserBlocks: a stored item is `fed` — the
 * leaders read it from INTAKE — until a TransactionEntry on the tip's chain
 * holds it (`recorded`), which is not settled yet.
 */
export type PendingState = "storing" | "waiting" | "proposed" | "fed" | "recorded";

/** One accepted transaction or bundle, from intake until it is recorded or dropped. */
export interface PendingItem {
  /** The base58 id (first signature of its first transaction). */
  readonly key: string;
  readonly id: Uint8Array;
  readonly item: tx.TransactionItem;
  /** The encoded TransactionItem: what the UserBlock carries (and the body of its INTAKE envelope). */
  readonly body: Uint8Array;
  /** Its INTAKE message (the body in an INTAKE_ITEM envelope): a delivery of exactly these bytes is it. */
  readonly sealed: Uint8Array;
  readonly kind: "transaction" | "bundle";
  /** The id of every transaction it holds (a bundle's, in order). */
  readonly signatures: readonly Uint8Array[];
  readonly feePayer: Uint8Array;
  readonly feeRate: FeeRate;
  /** Σ compute-unit limits: what it counts against a UserBlock's budget. */
  readonly computeUnits: number;
  /** The slot of its oldest recent blockhash: it expires with that one. */
  readonly blockhashSlot: number;
  readonly arrivalMs: number;
  /** Breaks ties between equal fee rates: earlier arrivals first. */
  readonly arrivalSeq: number;
  /** The pool index whose INTAKE subject stores it (this replica's own, or one it adopted). */
  readonly poolIndex: number;
  /** Its intake span, linked from the span of the UserBlock that carries it. */
  readonly trace: SpanContext | undefined;
  state: PendingState;
  /** The INTAKE delivery to acknowledge once it is recorded or dropped. */
  message: DeliveredMessage | undefined;
}

/** Higher fee rate first (exact rationals), then earlier arrival. */
export function compareForBlock(a: PendingItem, b: PendingItem): number {
  return compareFeeRates(b.feeRate, a.feeRate) || a.arrivalSeq - b.arrivalSeq;
}

/** What to do with an INTAKE delivery. */
export type DeliveryDisposition =
  /** It is pending here: its handle is kept to acknowledge it later. */
  | "held"
  /** It was already recorded, dropped or handed off: acknowledge it now. */
  | "settled"
  /** Not known here: a crashed holder's, to check and take on. */
  | "unknown";

/** What waits to be proposed: items, their compute units and their bytes. */
export interface Backlog {
  readonly items: number;
  readonly computeUnits: number;
  readonly bytes: number;
}

/** How much may wait: what the next few UserBlocks can carry. */
export interface BacklogCapacity {
  readonly computeUnits: number;
  readonly bytes: number;
}

/** States in which an item waits for a UserBlock (or, in sync mode, for a leader): the backlog. */
const BACKLOG_STATES: ReadonlySet<PendingState> = new Set(["storing", "waiting", "fed"]);

/** An item's share of a UserBlock's bytes: its encoding and the length prefix before it. */
export function itemBlockBytes(item: PendingItem): number {
  return item.body.length + 5;
}

/**
 * Every transaction this replica acknowledged and has not finished with, in a
 * priority queue by fee rate for the next UserBlock, with the INTAKE deliveries
 * to acknowledge when each is done. Ids finished recently are remembered so a
 * resubmission is a duplicate and a late redelivery is acknowledged at once.
 *
 * The backlog — items being stored, waiting, or (sync mode) fed and not yet
 * recorded — is what intake weighs before it accepts more: an item count
 * limit, and what the next UserBlocks can carry. Items put back after a
 * UserBlock that was not recorded keep their place: the queue orders by fee
 * rate, then by the arrival sequence they were given on intake.
 */
export class IntakeBook {
  private readonly pending = new Map<string, PendingItem>();
  private readonly queue = new PriorityQueue<PendingItem>(compareForBlock);
  private readonly finished = new Map<string, number>();
  private backlogItems = 0;
  private backlogUnits = 0;
  private backlogBytes = 0;
  private sequence = 0;

  constructor(
    /** Waiting (and storing) transactions allowed before intake refuses with QUEUE_FULL. */
    readonly limit: number,
    /** How long a finished id is remembered. */
    private readonly finishedRetentionMs: number,
  ) {}

  /** Transactions waiting for a UserBlock (and those being stored, which will); in sync mode, fed and not yet recorded. */
  get depth(): number {
    return this.backlogItems;
  }

  get backlog(): Backlog {
    return { items: this.backlogItems, computeUnits: this.backlogUnits, bytes: this.backlogBytes };
  }

  /** Everything acknowledged and not finished: waiting, storing and proposed. */
  get size(): number {
    return this.pending.size;
  }

  get full(): boolean {
    return this.depth >= this.limit;
  }

  /** Full, or what waits already fills the capacity: intake refuses with QUEUE_FULL. */
  overCapacity(capacity: BacklogCapacity): boolean {
    return this.full || this.backlogUnits >= capacity.computeUnits || this.backlogBytes >= capacity.bytes;
  }

  nextArrivalSeq(): number {
    return ++this.sequence;
  }

  /** Pending here, or finished recently. */
  knows(key: string): boolean {
    return this.pending.has(key) || this.finished.has(key);
  }

  get(key: string): PendingItem | undefined {
    return this.pending.get(key);
  }

  /** Intake: the item is being stored; it holds a place in the queue. */
  reserve(item: PendingItem): void {
    if (this.knows(item.key)) throw new Error(`transaction ${item.key} is already known`);
    this.pending.set(item.key, item);
    this.enter(item, "storing");
  }

  /** Its INTAKE publish was acknowledged: it waits for a UserBlock. */
  stored(item: PendingItem): void {
    if (this.pending.get(item.key) !== item || item.state !== "storing") return;
    this.move(item, "waiting");
    this.queue.push(item);
  }

  /** Sync mode: its INTAKE publish was acknowledged, so the leaders have it: it waits for a TransactionEntry. */
  feed(item: PendingItem): void {
    if (this.pending.get(item.key) !== item || item.state !== "storing") return;
    this.move(item, "fed");
  }

  /** Sync mode: a stored transaction this replica did not accept itself (redelivered or adopted): the leaders have it. */
  takeOverFed(item: PendingItem): void {
    if (this.knows(item.key)) throw new Error(`transaction ${item.key} is already known`);
    this.pending.set(item.key, item);
    this.enter(item, "fed");
  }

  /** Sync mode: a TransactionEntry on the tip's chain holds it (not settled yet); false when it was not fed. */
  markRecorded(item: PendingItem): boolean {
    if (this.pending.get(item.key) !== item || item.state !== "fed") return false;
    this.move(item, "recorded");
    return true;
  }

  /** Sync mode: the slot that held it left the tip's chain before it settled; false when it was not recorded. */
  markFed(item: PendingItem): boolean {
    if (this.pending.get(item.key) !== item || item.state !== "recorded") return false;
    this.move(item, "fed");
    return true;
  }

  /** Sync mode: the fed items matching the predicate (they stay pending until finished). */
  fedWhere(predicate: (item: PendingItem) => boolean): PendingItem[] {
    const out: PendingItem[] = [];
    for (const item of this.pending.values()) if (item.state === "fed" && predicate(item)) out.push(item);
    return out;
  }

  /** Its INTAKE publish failed: it was never acknowledged, so it is forgotten. */
  unreserve(item: PendingItem): void {
    if (this.pending.get(item.key) !== item || item.state !== "storing") return;
    this.leave(item);
    this.pending.delete(item.key);
  }

  /** A stored transaction this replica did not accept itself (redelivered or adopted): it waits for a UserBlock. */
  takeOver(item: PendingItem): void {
    if (this.knows(item.key)) throw new Error(`transaction ${item.key} is already known`);
    this.pending.set(item.key, item);
    this.enter(item, "waiting");
    this.queue.push(item);
  }

  /** Matches an INTAKE delivery with what is pending here. */
  attach(key: string, message: DeliveredMessage): DeliveryDisposition {
    const item = this.pending.get(key);
    if (item !== undefined) {
      item.message = message;
      return "held";
    }
    return this.finished.has(key) ? "settled" : "unknown";
  }

  /**
   * The waiting item with the highest fee rate, removed from the queue (it must
   * be proposed, put back or finished; until then it still counts as waiting).
   */
  popBest(): PendingItem | undefined {
    return this.queue.pop();
  }

  /**
   * Puts items taken with popBest back, or items of a UserBlock that was not
   * recorded: they wait again, each at its place by fee rate and original arrival.
   */
  putBack(items: Iterable<PendingItem>): void {
    for (const item of items) {
      if (this.pending.get(item.key) !== item) continue;
      this.move(item, "waiting");
      this.queue.push(item);
    }
  }

  markProposed(items: Iterable<PendingItem>): void {
    for (const item of items) {
      if (this.pending.get(item.key) === item) this.move(item, "proposed");
      else item.state = "proposed";
    }
  }

  /**
   * Done with it (recorded or dropped): forgotten, remembered as finished, and
   * its delivery returned to be acknowledged (undefined when it has not been
   * delivered yet; a later delivery is then `settled`).
   */
  finish(item: PendingItem, nowMs: number): DeliveredMessage | undefined {
    if (this.pending.get(item.key) !== item) return undefined;
    this.leave(item);
    this.pending.delete(item.key);
    this.finished.set(item.key, nowMs);
    return item.message;
  }

  /**
   * Another proposer took it: forgotten and its delivery returned to be acknowledged, but not
   * remembered as finished. It is not done — it may come back here (that proposer evicted in
   * turn and handing it on), and must then be taken again, not refused as a duplicate: refused,
   * the proposer handing it back would let go of it too, and nobody would hold it.
   */
  handOn(item: PendingItem): DeliveredMessage | undefined {
    if (this.pending.get(item.key) !== item) return undefined;
    this.leave(item);
    this.pending.delete(item.key);
    return item.message;
  }

  /** An id this replica never held that is known to be done (a later delivery of it is `settled`). */
  rememberFinished(key: string, nowMs: number): void {
    if (!this.pending.has(key)) this.finished.set(key, nowMs);
  }

  /** Removes waiting items matching the predicate from the queue (they stay pending until finished). */
  takeWaiting(predicate: (item: PendingItem) => boolean): PendingItem[] {
    return this.queue.removeWhere(predicate);
  }

  /** Forgets every item stored under a pool index this replica no longer holds, without finishing them. */
  forgetPool(poolIndex: number): PendingItem[] {
    const forgotten: PendingItem[] = [];
    for (const item of this.pending.values()) {
      if (item.poolIndex !== poolIndex) continue;
      this.leave(item);
      this.pending.delete(item.key);
      forgotten.push(item);
    }
    this.queue.removeWhere((item) => item.poolIndex === poolIndex);
    return forgotten;
  }

  /** Pending items, any state. */
  items(): IterableIterator<PendingItem> {
    return this.pending.values();
  }

  countPool(poolIndex: number): number {
    let count = 0;
    for (const item of this.pending.values()) if (item.poolIndex === poolIndex) count += 1;
    return count;
  }

  /** Forgets finished ids older than the retention. */
  prune(nowMs: number): void {
    const floor = nowMs - this.finishedRetentionMs;
    for (const [key, at] of this.finished) {
      if (at >= floor) break;
      this.finished.delete(key);
    }
  }

  /** A new pending item takes its first state. */
  private enter(item: PendingItem, state: PendingState): void {
    item.state = state;
    if (BACKLOG_STATES.has(state)) this.count(item, 1);
  }

  /** A pending item changes state: the backlog follows. */
  private move(item: PendingItem, state: PendingState): void {
    this.leave(item);
    this.enter(item, state);
  }

  /** A pending item leaves its state (and the backlog, if it was in it). */
  private leave(item: PendingItem): void {
    if (BACKLOG_STATES.has(item.state)) this.count(item, -1);
  }

  private count(item: PendingItem, sign: 1 | -1): void {
    this.backlogItems += sign;
    this.backlogUnits += sign * item.computeUnits;
    this.backlogBytes += sign * itemBlockBytes(item);
  }
}
