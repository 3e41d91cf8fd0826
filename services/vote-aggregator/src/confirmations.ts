import {
  ConfirmationLevel,
  type ConfirmationUpdate,
  type Genesis,
  OptimisticConfirmationTracker,
  reachesTwoThirds,
  type SlotRecord,
  type StakeTable,
  slotStartMs,
  stakeTableOf,
  toHex,
  VerdictLevel,
} from "@simd23/core";
import type { control, tx } from "@simd23/proto";
import type { UserBlockRef } from "@simd23/runtime";
import type { AggregatorMetrics } from "./metrics.js";
import { type LevelName, levelName, type StatusBook, signatureKey } from "./statuses.js";

/** A UserBlockEntry of a checked slot: the block it names and the active set it was checked against. */
export interface RecordedBlock {
  readonly ref: UserBlockRef;
  readonly activeProposers: readonly Uint8Array[];
}

/** Where levels are written: the runtime's StatusIndex (first time per level wins). */
export interface StatusWriter {
  reached(signature: Uint8Array, level: Exclude<LevelName, "dropped">, timeMs: number): void;
  executed(signature: Uint8Array, timeMs: number, result: control.TransactionResult): void;
}

export interface ConfirmationEngineOptions {
  readonly genesis: Genesis;
  readonly book: StatusBook;
  readonly index: StatusWriter;
  readonly metrics: Pick<
    AggregatorMetrics,
    | "optimisticSlot"
    | "executedSlot"
    | "finalizedSlot"
    | "optimisticConfirmationSeconds"
    | "transactions"
    | "confirmationLatencySeconds"
  >;
  /** The signatures of a recorded UserBlock not seen live; undefined when it cannot be had. */
  readonly resolveBlock: (block: RecordedBlock) => Promise<readonly Uint8Array[] | undefined>;
  /** The `received` times (ms) the status index holds for these signatures, by signatureKey. */
  readonly readReceived: (signatures: readonly Uint8Array[]) => Promise<ReadonlyMap<string, number>>;
  /** Per-slot state is kept for this many slots below the newest (or until the slot is finalized). */
  readonly retainSlots: number;
  /** Signature lists of this many UserBlocks are kept. */
  readonly blockCacheSize: number;
  /** The clock, only for a slot whose entries' arrival was not seen. */
  readonly now: () => number;
  /** The fork choice moved its root (a finalized slot or the root of 2/3 of stake's towers). */
  readonly onRoot?: (slot: number) => void;
  readonly onError?: (error: Error) => void;
}

interface SlotState {
  readonly slot: number;
  /** This slot's emissions, one after another, so its levels reach the book in order. */
  work: Promise<void>;
  /** The signatures the slot recorded, once its UserBlocks are resolved. */
  recorded: readonly Uint8Array[] | undefined;
  /** The signatures of its EXECUTED verdict. */
  executed: readonly Uint8Array[] | undefined;
  /**
   * The EXECUTED verdict's results and time, until they are reported: once the slot is
   * optimistically confirmed or finalized (then they are cleared).
   */
  unreported: { readonly results: readonly control.TransactionResult[]; readonly timeMs: number } | undefined;
  /** received times by signatureKey; null when the index had none. */
  readonly received: Map<string, number | null>;
}

interface KnownBlock {
  readonly signatures: readonly Uint8Array[];
  /** When this replica saw it published (a live USERBLOCKS message), for the `proposed` latency. */
  proposedAtMs: number | undefined;
}

interface Arrivals {
  last: number;
  /** `<leader hex>/<entry index>` → arrival time. */
  readonly entries: Map<string, number>;
}

const L = ConfirmationLevel;

/** The id of every transaction of an item (a bundle's in order); an item without a transaction has none. */
function itemSignatures(item: tx.TransactionItem): Uint8Array[] {
  const transactions =
    item.item?.$case === "transaction"
      ? [item.item.value]
      : item.item?.$case === "bundle"
        ? item.item.value.transactions
        : [];
  return transactions.flatMap((t) => (t.signatures[0] === undefined ? [] : [t.signatures[0]]));
}

/**
 * Turns what the streams say into confirmation levels (design.md §9, protocol.md §14):
 *
 * - `proposed`: a UserBlock published on USERBLOCKS carries the transaction;
 * - `recorded`: a checked ledger slot holds the UserBlockEntry of its block, at the time that
 *   entry arrived;
 * - `optimistic`: that slot is optimistically confirmed (the core's tracker, over the verified
 *   votes of VOTES and those the ledger recorded), at the time of the vote that crossed 2/3;
 * - `executed` / `finalized`: the verifier's verdict for the slot, at the verdict's time, with the
 *   results of the EXECUTED verdict. An EXECUTED verdict needs only more than 1/3 of stake on the
 *   slot's BankHash, which a fork that is then abandoned can have: it is reported once the slot is
 *   optimistically confirmed too (at the later of the two times) or finalized, so no status says
 *   `executed` — and with it `optimistic` — for a slot the cluster may still abandon.
 *
 * Each level goes to the status index (set-if-absent: the first replica's time stands), to this
 * replica's StatusBook (advanceStatus: never backwards) and to the metrics. Times are the
 * streams' own (message times), so replicas that replay the same streams reach the same times.
 */
export class ConfirmationEngine {
  private readonly stakes: StakeTable;
  private readonly tracker: OptimisticConfirmationTracker;
  private readonly slots = new Map<number, SlotState>();
  private readonly arrivals = new Map<number, Arrivals>();
  private readonly blocks = new Map<string, KnownBlock>();
  private readonly towerRoots = new Map<number, { voteSlot: number; root: number }>();
  private readonly inFlight = new Set<Promise<void>>();
  private newestSlot = 0;
  private executedSlotSeen = 0;
  private finalizedSlotSeen = 0;

  constructor(private readonly options: ConfirmationEngineOptions) {
    this.stakes = stakeTableOf(options.genesis);
    this.tracker = new OptimisticConfirmationTracker(this.stakes, 0);
  }

  get optimisticSlot(): number {
    return this.tracker.highestConfirmed;
  }

  get executedSlot(): number {
    return this.executedSlotSeen;
  }

  get finalizedSlot(): number {
    return this.finalizedSlotSeen;
  }

  /** The fork choice's root. */
  get root(): number {
    return this.tracker.forkChoice.root;
  }

  /** Resolves once every level learnt so far has been applied. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  /** A UserBlock published on USERBLOCKS (checked well-formed): its transactions are proposed. */
  proposed(blockHash: Uint8Array, signatures: readonly Uint8Array[], timeMs: number): void {
    const key = toHex(blockHash);
    if (this.blocks.has(key)) return;
    this.rememberBlock(key, { signatures, proposedAtMs: timeMs });
    for (const signature of signatures)
      this.emit(undefined, signature, L.CONFIRMATION_LEVEL_PROPOSED, timeMs);
  }

  /** A ledger entry arrived, its slot not checked yet: its time is kept for when the slot is. */
  entryArrived(slot: number, leader: Uint8Array, index: number, timeMs: number): void {
    if (slot <= this.root) return;
    let arrivals = this.arrivals.get(slot);
    if (arrivals === undefined) {
      arrivals = { last: timeMs, entries: new Map() };
      this.arrivals.set(slot, arrivals);
    }
    arrivals.last = Math.max(arrivals.last, timeMs);
    arrivals.entries.set(`${toHex(leader)}/${index}`, timeMs);
  }

  /** A slot broke a rule: nothing it holds is recorded. */
  slotDead(slot: number): void {
    this.arrivals.delete(slot);
  }

  /** A slot that replayed cleanly: its UserBlockEntries are recorded, its votes count. */
  slotRecorded(record: SlotRecord): void {
    const arrivals = this.arrivals.get(record.slot);
    this.arrivals.delete(record.slot);
    const slotTime = arrivals?.last ?? this.options.now();
    const leader = toHex(record.leader);
    const timeOf = (entryIndex: number): number =>
      arrivals?.entries.get(`${leader}/${entryIndex}`) ?? slotTime;
    this.newestSlot = Math.max(this.newestSlot, record.slot);

    const state = this.stateOf(record.slot);
    const blocks = record.userBlockSlots.flatMap((recordedSlot) =>
      recordedSlot.entries.map((entry) => ({
        block: {
          ref: { userBlockSlot: entry.userBlockSlot, proposer: entry.proposer, blockHash: entry.blockHash },
          activeProposers: recordedSlot.activeProposers,
        },
        timeMs: timeOf(entry.entryIndex),
      })),
    );
    // Sync mode: the leader recorded the transactions themselves, each TransactionEntry at its arrival.
    const entries = record.transactionEntries.map((entry) => ({
      signatures: entry.items.flatMap(itemSignatures),
      timeMs: timeOf(entry.entryIndex),
    }));
    // Queued before the fork choice hears of the slot, so an optimistic confirmation it causes
    // is applied after the slot's transactions are known.
    this.schedule(state, async () => {
      const resolved = await Promise.all(
        blocks.map(async ({ block, timeMs }) => ({ block, timeMs, known: await this.knownBlock(block) })),
      );
      const signatures = [
        ...resolved.flatMap((r) => r.known?.signatures ?? []),
        ...entries.flatMap((e) => e.signatures),
      ];
      state.recorded = signatures;
      await this.lookUpReceived(state, signatures);
      for (const entry of entries)
        for (const signature of entry.signatures)
          this.emit(state, signature, L.CONFIRMATION_LEVEL_RECORDED, entry.timeMs);
      for (const { timeMs, known } of resolved) {
        if (known === undefined) continue;
        if (known.proposedAtMs !== undefined) {
          for (const signature of known.signatures)
            this.observeLatency(state, signature, "proposed", known.proposedAtMs);
          known.proposedAtMs = undefined;
        }
        for (const signature of known.signatures)
          this.emit(state, signature, L.CONFIRMATION_LEVEL_RECORDED, timeMs);
      }
    });

    this.confirm(this.tracker.addSlot(record.slot, record.parentSlot), slotTime);
    for (const entry of record.votes) {
      for (const vote of entry.votes) {
        this.countVote(vote.vote.validator, vote.vote.slot, vote.tower.root, timeOf(entry.entryIndex));
      }
    }
    this.prune();
  }

  /** A vote from VOTES that verified (verifySignedVote, signed by its validator). */
  vote(validator: Uint8Array, slot: number, root: number | null, timeMs: number): void {
    this.countVote(validator, slot, root, timeMs);
  }

  /** A verdict signed by the genesis verifier. */
  verdict(verdict: control.SlotVerdict, timeMs: number): void {
    const state = this.stateOf(verdict.slot);
    if (verdict.level === VerdictLevel.VERDICT_LEVEL_EXECUTED) {
      if (state.executed !== undefined) return;
      const results = verdict.results.filter((r) => r.signature.length > 0);
      state.executed = results.map((r) => r.signature);
      state.unreported = { results, timeMs };
      this.executedSlotSeen = Math.max(this.executedSlotSeen, verdict.slot);
      this.options.metrics.executedSlot.set(this.executedSlotSeen);
      if (this.tracker.isConfirmed(verdict.slot)) this.reportExecuted(state, timeMs);
    } else if (verdict.level === VerdictLevel.VERDICT_LEVEL_FINALIZED) {
      this.finalizedSlotSeen = Math.max(this.finalizedSlotSeen, verdict.slot);
      this.options.metrics.finalizedSlot.set(this.finalizedSlotSeen);
      this.reportExecuted(state, timeMs);
      this.schedule(state, async () => {
        const signatures = state.executed ?? state.recorded ?? [];
        await this.lookUpReceived(state, signatures);
        for (const signature of signatures)
          this.emit(state, signature, L.CONFIRMATION_LEVEL_FINALIZED, timeMs);
        if (this.slots.get(state.slot) === state) this.slots.delete(state.slot);
      });
      this.advanceRoot();
    }
    this.prune();
  }

  private countVote(validator: Uint8Array, slot: number, root: number | null, timeMs: number): void {
    this.confirm(this.tracker.recordVote(validator, slot), timeMs);
    const index = this.stakes.indexOf(validator);
    if (root === null || index < 0) return;
    const previous = this.towerRoots.get(index);
    if (previous !== undefined && previous.voteSlot >= slot) return;
    this.towerRoots.set(index, { voteSlot: slot, root });
    this.advanceRoot();
  }

  // The newest root of at least 2/3 of stake's towers: every honest fork descends from it.
  private supermajorityRoot(): number {
    const roots = [...this.towerRoots.entries()]
      .map(([index, { root }]) => ({ root, stake: this.stakes.stakeAt(index) }))
      .sort((a, b) => b.root - a.root);
    let stake = 0n;
    for (const { root, stake: s } of roots) {
      stake += s;
      if (reachesTwoThirds(stake, this.stakes.total)) return root;
    }
    return 0;
  }

  private advanceRoot(): void {
    const { tree, root } = this.tracker.forkChoice;
    const candidates = [this.finalizedSlotSeen, this.supermajorityRoot()].sort((a, b) => b - a);
    const next = candidates.find((slot) => slot > root && tree.has(slot));
    if (next === undefined) return;
    if (this.tracker.setRoot(next).ok) this.options.onRoot?.(next);
  }

  private confirm(update: ConfirmationUpdate, timeMs: number): void {
    if (!update.ok || update.confirmed.length === 0) return;
    const { timing } = this.options.genesis;
    for (const slot of update.confirmed) {
      const sinceEnd = Math.max(0, timeMs - slotStartMs(timing, slot + 1)) / 1000;
      this.options.metrics.optimisticConfirmationSeconds.observe(sinceEnd);
      const state = this.slots.get(slot);
      if (state === undefined) continue;
      this.schedule(state, async () => {
        for (const signature of state.recorded ?? [])
          this.emit(state, signature, L.CONFIRMATION_LEVEL_OPTIMISTIC, timeMs);
      });
      this.reportExecuted(state, timeMs);
    }
    this.options.metrics.optimisticSlot.set(this.tracker.highestConfirmed);
  }

  /** The slot's EXECUTED results, once: at the verdict's time, or later if the slot settled later. */
  private reportExecuted(state: SlotState, timeMs: number): void {
    const unreported = state.unreported;
    if (unreported === undefined) return;
    state.unreported = undefined;
    const reachedMs = Math.max(unreported.timeMs, timeMs);
    this.schedule(state, async () => {
      await this.lookUpReceived(state, state.executed ?? []);
      for (const result of unreported.results)
        this.emit(state, result.signature, L.CONFIRMATION_LEVEL_EXECUTED, reachedMs, result);
    });
  }

  /**
   * One level for one signature: to the status index as observed (set-if-absent), to the book
   * (monotone), and to the metrics for every level it newly reached.
   */
  private emit(
    state: SlotState | undefined,
    signature: Uint8Array,
    level: ConfirmationLevel,
    timeMs: number,
    result?: control.TransactionResult,
  ): void {
    const name = levelName(level);
    if (name === "dropped") throw new RangeError("the aggregator does not drop transactions");
    if (result !== undefined) this.options.index.executed(signature, timeMs, result);
    else this.options.index.reached(signature, name, timeMs);
    const change = this.options.book.advance(signature, level, timeMs, result);
    for (const reached of change.reached) {
      this.options.metrics.transactions.inc({ level: levelName(reached.level) });
    }
    if (state !== undefined && change.reached.some((r) => r.level === level)) {
      this.observeLatency(state, signature, name, timeMs);
    }
  }

  private observeLatency(state: SlotState, signature: Uint8Array, level: LevelName, timeMs: number): void {
    const received = state.received.get(signatureKey(signature));
    if (received === undefined || received === null || timeMs < received) return;
    this.options.metrics.confirmationLatencySeconds.observe({ level }, (timeMs - received) / 1000);
  }

  // One read of the status index per slot (and one more only for signatures it did not cover).
  private async lookUpReceived(state: SlotState, signatures: readonly Uint8Array[]): Promise<void> {
    const missing = signatures.filter((s) => !state.received.has(signatureKey(s)));
    if (missing.length === 0) return;
    let times: ReadonlyMap<string, number> = new Map();
    try {
      times = await this.options.readReceived(missing);
    } catch (error) {
      this.options.onError?.(error as Error);
    }
    for (const signature of missing) {
      const key = signatureKey(signature);
      state.received.set(key, times.get(key) ?? null);
    }
  }

  private async knownBlock(block: RecordedBlock): Promise<KnownBlock | undefined> {
    const key = toHex(block.ref.blockHash);
    const known = this.blocks.get(key);
    if (known !== undefined) return known;
    const signatures = await this.options.resolveBlock(block);
    if (signatures === undefined) return undefined;
    const resolved: KnownBlock = { signatures, proposedAtMs: undefined };
    this.rememberBlock(key, resolved);
    return resolved;
  }

  private rememberBlock(key: string, block: KnownBlock): void {
    this.blocks.set(key, block);
    if (this.blocks.size > this.options.blockCacheSize) this.blocks.delete(this.blocks.keys().next().value!);
  }

  private stateOf(slot: number): SlotState {
    let state = this.slots.get(slot);
    if (state === undefined) {
      state = {
        slot,
        work: Promise.resolve(),
        recorded: undefined,
        executed: undefined,
        unreported: undefined,
        received: new Map(),
      };
      this.slots.set(slot, state);
    }
    return state;
  }

  private schedule(state: SlotState, work: () => Promise<void>): void {
    const next = state.work.then(work).catch((error: Error) => this.options.onError?.(error));
    state.work = next;
    this.inFlight.add(next);
    void next.finally(() => this.inFlight.delete(next));
  }

  // A slot whose EXECUTED results wait for its confirmation or its FINALIZED verdict is kept longer
  // (four times the retention): pruned with the rest, its results would never be reported.
  private prune(): void {
    const floor = Math.max(this.newestSlot, this.executedSlotSeen) - this.options.retainSlots;
    if (floor <= 0) return;
    const awaitingFloor = floor - 3 * this.options.retainSlots;
    for (const [slot, state] of this.slots)
      if (slot < floor && (state.unreported === undefined || slot < awaitingFloor)) this.slots.delete(slot);
    for (const slot of this.arrivals.keys()) if (slot < floor) this.arrivals.delete(slot);
  }
}
