import { performance } from "node:perf_hooks";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { Bus, Replay } from "@simd23/bus";
import {
  type Bank,
  BankError,
  BankForks,
  bytesEqual,
  decodeTransactionItem,
  ExecutionMode,
  fromHex,
  type LedgerContext,
  type SlotRecord,
  toHex,
  type UserBlockForExecution,
  type ValidItem,
  type WellFormedUserBlock,
} from "@simd23/core";
import type { control } from "@simd23/proto";
import { type DeadSlot, type FollowedSlot, LedgerFollower } from "./ledger-follower.js";
import type { MessageRefusals } from "./message-refusals.js";
import type { ProposerDirectory } from "./proposer-directory.js";
import { preverifyItemSignatures, preverifySignatures } from "./signature-check.js";
import { subjects } from "./subjects.js";
import { type UserBlockRef, UserBlockSource } from "./user-blocks.js";

/** Where a UserBlock came from: received live on USERBLOCKS, or repaired by hash (`stream`: getLast, `proposer`: GetUserBlock). */
export type UserBlockArrival = "live" | "cache" | "stream" | "proposer";

export interface ReplayPipelineOptions {
  readonly bus: Bus;
  readonly context: LedgerContext;
  readonly directory: ProposerDirectory;
  /**
   * The frozen bank everything executes on: the genesis bank, or the bank a
   * snapshot restored. Slots at or below its slot are settled history: they are
   * checked but neither fetched nor executed.
   */
  readonly rootBank: Bank;
  /** Slots at or below this one skip PoH verification (the snapshot's slot after a restart). */
  readonly trustPohThroughSlot?: number;
  /** Fault injection: stream copies of these proposers' blocks (hex identities) are ignored; they must be repaired from the proposer. */
  readonly ignoreStreamFrom?: ReadonlySet<string>;
  /** Fault injection: stream copies of these proposers' blocks (hex identities) are seen only `delayStreamMs` after they arrive. */
  readonly delayStreamFrom?: ReadonlySet<string>;
  readonly delayStreamMs?: number;
  /** Deadline of one GetUserBlock repair call (default 2 s). */
  readonly repairTimeoutMs?: number;
  /** Retry backoff for a missing UserBlock: doubles from the minimum up to the maximum (defaults 50 ms, 2 s). */
  readonly repairBackoffMinMs?: number;
  readonly repairBackoffMaxMs?: number;
  /** Where refused LEDGER messages are counted (otherwise they go to onError). */
  readonly refusals?: MessageRefusals;
  /** A failure the pipeline survived (a refused LEDGER message, a consumer or execution error): log it. */
  readonly onError?: (error: Error) => void;
  /** A UserBlock fetch attempt that failed (it is retried): worth a debug line. */
  readonly onMissing?: (detail: string) => void;
}

/** A checked slot the pipeline tracks (it descends from the root bank). */
export interface TrackedSlot {
  readonly record: SlotRecord;
  /** The LEDGER stream sequence of the slot's last message. */
  readonly sequence: number;
}

/** A slot executed: its bank is frozen and in the forks. */
export interface ExecutedSlot {
  readonly slot: number;
  readonly parentSlot: number;
  readonly bank: Bank;
  readonly bankHash: Uint8Array;
  /** One per transaction, in execution order. */
  readonly results: readonly control.TransactionResult[];
  readonly userBlockSlots: readonly number[];
  /** Sync mode: the BankHash the leader recorded in SlotEnd (the slot is votable only when it equals bankHash); null in async mode. */
  readonly leaderBankHash: Uint8Array | null;
  /** Wall time from the start of its execution to its BankHash, signature checks included. */
  readonly executionSeconds: number;
  /** The longest the event loop was held in one step of it. */
  readonly longestStepSeconds: number;
  readonly sequence: number;
}

/** Sync mode: a slot this node executed to another BankHash than the leader's SlotEnd.bankHash. */
export interface BankHashMismatch {
  readonly slot: number;
  readonly parentSlot: number;
  readonly bankHash: Uint8Array;
  readonly leaderBankHash: Uint8Array;
}

export interface RepairEvent {
  readonly ref: UserBlockRef;
  readonly source: "stream" | "proposer";
  readonly slot: number;
}

interface SlotState {
  readonly record: SlotRecord;
  readonly sequence: number;
  /** Per UserBlockSlot of the record, per UserBlockEntry in ledger order; emptied once executed. */
  readonly blocks: (WellFormedUserBlock | undefined)[][];
  outstanding: number;
  /** Blocks not received live whose repair is under way or still failing. */
  readonly missing: Set<string>;
  executed: boolean;
  executing: boolean;
  /** Sync mode: whether the executed BankHash equals the leader's; undefined until executed. */
  matched: boolean | undefined;
}

interface ExecutedSummary {
  readonly parentSlot: number;
  readonly bankHash: Uint8Array;
}

type Listener<T> = (value: T) => void;

// Live copies wait here until their slot asks for them; they are taken out once opened.
const RAW_CACHE_BLOCKS = 1_024;
const RAW_CACHE_BYTES = 256 * 1024 * 1024;
// Opened blocks the source keeps for a second fetch of the same hash (another fork naming it).
const SOURCE_CACHE_BLOCKS = 256;

/**
 * The replay-and-execute pipeline every executing role shares: follows the
 * LEDGER (checked slot by slot by the core), fetches every UserBlock a slot
 * names — received live on USERBLOCKS, else repaired by hash from the stream,
 * else from its proposer, retrying with backoff until it has it — and executes
 * the banks of every tracked fork in slot order (parent before child),
 * asynchronously: signatures are verified on the thread pool and the event
 * loop gets a turn between UserBlockSlots, so whoever votes on `onReady` is
 * never held up by execution.
 *
 * In sync mode (the genesis's execution mode) there are no UserBlocks: a slot
 * is executed from its TransactionEntries, in ledger order, and is ready — may
 * be voted on — only once executed and only if its BankHash equals the
 * leader's SlotEnd.bankHash; otherwise `onBankHashMismatch` reports it and it
 * never becomes ready.
 */
export class ReplayPipeline {
  readonly follower: LedgerFollower;
  readonly forks: BankForks;
  private readonly source: UserBlockSource;
  private readonly slots = new Map<number, SlotState>();
  private readonly executedSlots = new Map<number, ExecutedSummary>();
  private readonly rawBlocks = new Map<string, Uint8Array>();
  private rawBytes = 0;
  private readonly blockWaiters = new Map<string, Set<() => void>>();
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly delayTimers = new Set<NodeJS.Timeout>();
  private readonly slotListeners: Listener<TrackedSlot>[] = [];
  private readonly readyListeners: Listener<TrackedSlot>[] = [];
  private readonly executedListeners: Listener<ExecutedSlot>[] = [];
  private readonly rootedListeners: Listener<{ bank: Bank; sequence: number }>[] = [];
  private readonly repairListeners: Listener<RepairEvent>[] = [];
  private readonly missingListeners: Listener<number>[] = [];
  private readonly deadListeners: Listener<DeadSlot>[] = [];
  private readonly mismatchListeners: Listener<BankHashMismatch>[] = [];
  private readonly sync: boolean;
  private liveBlocks: Replay | undefined;
  private liveBlocksRunning: Promise<void> | undefined;
  private executionRunning: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private stopped = false;
  private targetRoot: number;
  private newestExecuted: number;
  private missingCount = 0;
  private readonly slotSequence = new Map<number, number>();

  constructor(private readonly options: ReplayPipelineOptions) {
    this.sync = options.context.genesis.mode === ExecutionMode.EXECUTION_MODE_SYNC;
    this.forks = new BankForks(options.rootBank);
    this.targetRoot = options.rootBank.slot;
    this.newestExecuted = options.rootBank.slot;
    this.executedSlots.set(options.rootBank.slot, {
      parentSlot: options.rootBank.parentSlot ?? options.rootBank.slot,
      bankHash: options.rootBank.bankHash,
    });
    const ignored = new Set([...(options.ignoreStreamFrom ?? []), ...(options.delayStreamFrom ?? [])]);
    this.source = new UserBlockSource({
      bus: options.bus,
      genesis: options.context.genesis,
      directory: options.directory,
      ignoreStreamFrom: ignored,
      cacheLimit: SOURCE_CACHE_BLOCKS,
      ...(options.repairTimeoutMs === undefined ? {} : { repairTimeoutMs: options.repairTimeoutMs }),
    });
    this.follower = new LedgerFollower({
      bus: options.bus,
      context: options.context,
      ...(options.trustPohThroughSlot === undefined
        ? {}
        : { trustPohThroughSlot: options.trustPohThroughSlot }),
      ...(options.refusals ? { refusals: options.refusals } : {}),
      ...(options.onError ? { onError: options.onError } : {}),
    });
    this.follower.onSlot((followed) => this.track(followed));
    this.follower.onDeadSlot((dead) => {
      for (const listener of this.deadListeners) listener(dead);
    });
  }

  /** A checked slot that descends from the root bank, before its UserBlocks are fetched. */
  onSlot(listener: Listener<TrackedSlot>): void {
    this.slotListeners.push(listener);
  }

  /** Every UserBlock the slot names is here and well-formed: the slot may be voted on. */
  onReady(listener: Listener<TrackedSlot>): void {
    this.readyListeners.push(listener);
  }

  onExecuted(listener: Listener<ExecutedSlot>): void {
    this.executedListeners.push(listener);
  }

  /** The bank forks were rooted at this bank (after `setRoot`, once the bank was executed). */
  onRooted(listener: Listener<{ bank: Bank; sequence: number }>): void {
    this.rootedListeners.push(listener);
  }

  onRepair(listener: Listener<RepairEvent>): void {
    this.repairListeners.push(listener);
  }

  /** The number of awaited UserBlocks changed. */
  onMissingChanged(listener: Listener<number>): void {
    this.missingListeners.push(listener);
  }

  /** A slot that broke a ledger rule (and its descendants), as the follower reports it. */
  onDeadSlot(listener: Listener<DeadSlot>): void {
    this.deadListeners.push(listener);
  }

  /** Sync mode: an executed slot whose BankHash differs from its leader's (it is dead here: never ready). */
  onBankHashMismatch(listener: Listener<BankHashMismatch>): void {
    this.mismatchListeners.push(listener);
  }

  onCaughtUp(listener: () => void): void {
    this.follower.onCaughtUp(listener);
  }

  get caughtUp(): boolean {
    return this.follower.caughtUp;
  }

  /** UserBlocks named by tracked slots that were not received live and are not repaired yet. */
  get missingUserBlocks(): number {
    return this.missingCount;
  }

  get newestExecutedSlot(): number {
    return this.newestExecuted;
  }

  get rootSlot(): number {
    return this.forks.root.slot;
  }

  /** The frozen bank of the newest executed slot still on a live fork (the root at least). */
  newestExecutedBank(): Bank {
    const slots = this.forks.slots();
    for (let i = slots.length - 1; i >= 0; i--) {
      const bank = this.forks.get(slots[i]!);
      if (bank?.isFrozen) return bank;
    }
    return this.forks.root;
  }

  isTracked(slot: number): boolean {
    return this.slots.has(slot);
  }

  /** Async mode: every UserBlock of the slot is here. Sync mode: the slot is executed to its leader's BankHash. */
  isReady(slot: number): boolean {
    const state = this.slots.get(slot);
    if (state === undefined) return false;
    return this.sync ? state.matched === true : state.outstanding === 0;
  }

  /**
   * Sync mode, the leader: the frozen bank of a slot this node produced (and
   * so executed) itself, on a parent bank of these forks. It joins the forks
   * at once, so the leader's next slot builds on it; when the ledger brings
   * the slot it is not executed again.
   */
  adoptBank(bank: Bank): void {
    if (this.forks.get(bank.slot) !== undefined) return;
    this.forks.insert(bank);
    this.executedSlots.set(bank.slot, { parentSlot: bank.parentSlot ?? bank.slot, bankHash: bank.bankHash });
    this.newestExecuted = Math.max(this.newestExecuted, bank.slot);
    const state = this.slots.get(bank.slot);
    if (state !== undefined && !state.executed) this.settleSync(state, bank.bankHash);
  }

  record(slot: number): SlotRecord | undefined {
    return this.slots.get(slot)?.record;
  }

  parentOf(slot: number): number | undefined {
    return this.slots.get(slot)?.record.parentSlot ?? this.executedSlots.get(slot)?.parentSlot;
  }

  /** The BankHash this node computed for a slot it executed (kept down to the root). */
  bankHashOf(slot: number): Uint8Array | undefined {
    return this.executedSlots.get(slot)?.bankHash;
  }

  /** The newest slot executed on the chain ending at slot (slot itself or an ancestor), down to the root. */
  newestExecutedOnChain(slot: number): { slot: number; bankHash: Uint8Array } | undefined {
    for (let s: number | undefined = slot; s !== undefined; s = this.parentOf(s)) {
      const executed = this.executedSlots.get(s);
      if (executed !== undefined) return { slot: s, bankHash: executed.bankHash };
      if (s <= this.forks.root.slot) return undefined;
    }
    return undefined;
  }

  /** Follows the live USERBLOCKS stream and the LEDGER from its start; resolves once the ledger's history is replayed. */
  async start(): Promise<void> {
    if (this.sync) {
      this.executionRunning = this.executeLoop().catch((error: Error) => this.options.onError?.(error));
      await this.follower.start();
      return;
    }
    const live = this.options.bus.replay({
      stream: "USERBLOCKS",
      filterSubjects: [subjects.allUserBlocks],
      start: "new",
    });
    this.liveBlocks = live;
    this.liveBlocksRunning = (async () => {
      for await (const message of live) this.receiveLiveBlock(message.subject, message.data);
    })().catch((error: Error) => this.options.onError?.(error));
    this.executionRunning = this.executeLoop().catch((error: Error) => this.options.onError?.(error));
    await this.follower.start();
  }

  /** Stops following and executing; the slot in execution is abandoned at its next step. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of [...this.retryTimers, ...this.delayTimers]) clearTimeout(timer);
    this.retryTimers.clear();
    this.delayTimers.clear();
    this.liveBlocks?.stop();
    this.wake?.();
    await this.follower.stop();
    await this.liveBlocksRunning;
    await this.executionRunning;
    this.source.close();
  }

  /**
   * The caller's new root (the tower's root, or the newest finalized slot): forks
   * that do not contain it stop being fetched and executed; the follower forgets
   * older slots; the bank forks are rooted there as soon as its bank is executed.
   */
  setRoot(slot: number): void {
    if (slot <= this.targetRoot) return;
    this.targetRoot = slot;
    this.follower.setRoot(slot);
    const chain = new Set<number>();
    for (let s: number | undefined = slot; s !== undefined && s > this.forks.root.slot; s = this.parentOf(s))
      chain.add(s);
    for (const tracked of [...this.slots.keys()]) {
      if (!chain.has(tracked) && !this.descendsFrom(tracked, slot)) this.forget(tracked);
    }
    this.rootBanksIfExecuted();
  }

  private descendsFrom(slot: number, ancestor: number): boolean {
    for (let s: number | undefined = slot; s !== undefined; s = this.parentOf(s)) {
      if (s === ancestor) return true;
      if (s < ancestor) return false;
    }
    return false;
  }

  private forget(slot: number): void {
    const state = this.slots.get(slot);
    if (state === undefined) return;
    this.slots.delete(slot);
    if (state.missing.size > 0) this.changeMissing(-state.missing.size);
  }

  private changeMissing(delta: number): void {
    this.missingCount += delta;
    for (const listener of this.missingListeners) listener(this.missingCount);
  }

  private receiveLiveBlock(subject: string, data: Uint8Array): void {
    const parts = subject.split(".");
    const proposerHex = parts[2];
    const hashHex = parts[3];
    if (parts.length !== 4 || proposerHex === undefined || hashHex === undefined) return;
    if (this.options.ignoreStreamFrom?.has(proposerHex)) return;
    const keep = (): void => {
      if (!this.rawBlocks.has(hashHex)) {
        this.rawBlocks.set(hashHex, data);
        this.rawBytes += data.length;
      }
      while (this.rawBlocks.size > RAW_CACHE_BLOCKS || this.rawBytes > RAW_CACHE_BYTES)
        this.dropRawBlock(this.rawBlocks.keys().next().value!);
      const waiters = this.blockWaiters.get(hashHex);
      this.blockWaiters.delete(hashHex);
      for (const waiter of waiters ?? []) waiter();
    };
    if (this.options.delayStreamFrom?.has(proposerHex)) {
      const timer = setTimeout(() => {
        this.delayTimers.delete(timer);
        keep();
      }, this.options.delayStreamMs ?? 0);
      this.delayTimers.add(timer);
    } else {
      keep();
    }
  }

  private dropRawBlock(hashHex: string): void {
    const data = this.rawBlocks.get(hashHex);
    if (data === undefined) return;
    this.rawBlocks.delete(hashHex);
    this.rawBytes -= data.length;
  }

  private track(followed: FollowedSlot): void {
    const { record, sequence } = followed;
    const root = this.forks.root.slot;
    if (record.slot <= root) return;
    const parent = record.parentSlot;
    if (parent !== root && !this.slots.has(parent)) return;
    const state: SlotState = {
      record,
      sequence,
      blocks: record.userBlockSlots.map((u) => u.entries.map(() => undefined)),
      outstanding: record.userBlockSlots.reduce((n, u) => n + u.entries.length, 0),
      missing: new Set(),
      executed: false,
      executing: false,
      matched: undefined,
    };
    this.slots.set(record.slot, state);
    this.slotSequence.set(record.slot, sequence);
    const tracked: TrackedSlot = { record, sequence };
    for (const listener of this.slotListeners) listener(tracked);
    if (this.sync) {
      const adopted = this.forks.get(record.slot);
      if (adopted?.isFrozen) this.settleSync(state, adopted.bankHash);
      else this.wake?.();
      return;
    }
    if (state.outstanding === 0) this.becameReady(state);
    record.userBlockSlots.forEach((u, i) => {
      u.entries.forEach((entry, j) => {
        const ref: UserBlockRef = {
          userBlockSlot: entry.userBlockSlot,
          proposer: entry.proposer,
          blockHash: entry.blockHash,
        };
        this.fetchBlock(state, i, j, ref, u.activeProposers, 0);
      });
    });
  }

  private becameReady(state: SlotState): void {
    const tracked: TrackedSlot = { record: state.record, sequence: state.sequence };
    for (const listener of this.readyListeners) listener(tracked);
    this.wake?.();
  }

  private fetchBlock(
    state: SlotState,
    ubsIndex: number,
    entryIndex: number,
    ref: UserBlockRef,
    activeProposers: readonly Uint8Array[],
    attempt: number,
  ): void {
    const hashHex = toHex(ref.blockHash);
    const live = (): boolean => !this.stopped && this.slots.get(state.record.slot) === state;
    const attemptFetch = async (): Promise<void> => {
      if (!live()) return;
      let block: WellFormedUserBlock | undefined;
      let arrival: UserBlockArrival | undefined;
      let detail = "";
      const raw = this.rawBlocks.get(hashHex);
      if (raw !== undefined) {
        const opened = this.source.openStreamCopy(raw, activeProposers, ref);
        this.dropRawBlock(hashHex);
        if (opened.ok) {
          this.source.remember(opened.block);
          block = opened.block;
          arrival = "live";
        } else {
          detail = `live copy refused: ${opened.reason} ${opened.detail}`;
        }
      }
      if (block === undefined) {
        // Not here: from now on the slot awaits it (a repair by hash, which may take a while).
        if (this.source.cached(ref.blockHash) === undefined && !state.missing.has(hashHex)) {
          state.missing.add(hashHex);
          this.changeMissing(1);
        }
        try {
          const fetched = await this.source.fetch(ref, activeProposers);
          if (fetched.ok) {
            block = fetched.block;
            arrival = fetched.source;
          } else {
            detail = `${fetched.reason}: ${fetched.detail}`;
          }
        } catch (error) {
          detail = `the fetch failed: ${(error as Error).message}`;
        }
      }
      if (!live()) return;
      if (block !== undefined && arrival !== undefined) {
        state.blocks[ubsIndex]![entryIndex] = block;
        state.outstanding--;
        if (state.missing.delete(hashHex)) this.changeMissing(-1);
        if (arrival === "stream" || arrival === "proposer") {
          for (const listener of this.repairListeners)
            listener({ ref, source: arrival, slot: state.record.slot });
        }
        if (state.outstanding === 0) this.becameReady(state);
        return;
      }
      if (!state.missing.has(hashHex)) {
        state.missing.add(hashHex);
        this.changeMissing(1);
      }
      this.options.onMissing?.(
        `slot ${state.record.slot}: UserBlock ${hashHex.slice(0, 16)}… of u ${ref.userBlockSlot} missing (attempt ${attempt + 1}): ${detail}`,
      );
      const minMs = this.options.repairBackoffMinMs ?? 50;
      const maxMs = this.options.repairBackoffMaxMs ?? 2_000;
      const delay = Math.min(maxMs, minMs * 2 ** attempt);
      let retried = false;
      const retry = (): void => {
        if (retried) return;
        retried = true;
        clearTimeout(timer);
        this.retryTimers.delete(timer);
        this.fetchBlock(state, ubsIndex, entryIndex, ref, activeProposers, attempt + 1);
      };
      const timer = setTimeout(retry, delay);
      this.retryTimers.add(timer);
      // A live copy arriving meanwhile (a delayed stream) retries at once.
      const waiters = this.blockWaiters.get(hashHex) ?? new Set();
      waiters.add(retry);
      this.blockWaiters.set(hashHex, waiters);
    };
    attemptFetch().catch((error: Error) => this.options.onError?.(error));
  }

  private nextExecutable(): SlotState | undefined {
    let best: SlotState | undefined;
    for (const state of this.slots.values()) {
      if (state.executed || state.executing || state.outstanding > 0) continue;
      const parent = this.forks.get(state.record.parentSlot);
      if (parent === undefined || !parent.isFrozen || parent.isDropped) continue;
      if (best === undefined || state.record.slot < best.record.slot) best = state;
    }
    return best;
  }

  private async executeLoop(): Promise<void> {
    while (!this.stopped) {
      const next = this.nextExecutable();
      if (next === undefined) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      next.executing = true;
      try {
        await this.execute(next);
      } catch (error) {
        if (!(error instanceof BankError)) throw error;
        this.options.onError?.(new Error(`slot ${next.record.slot} not executed: ${error.message}`));
      } finally {
        next.executing = false;
      }
    }
  }

  private async execute(state: SlotState): Promise<void> {
    if (this.sync) return this.executeSync(state);
    const { record } = state;
    const startedAt = performance.now();
    const signatureCheck = await preverifySignatures(state.blocks.flat().filter((b) => b !== undefined));
    const parent = this.forks.get(record.parentSlot);
    if (this.stopped || this.slots.get(record.slot) !== state || parent === undefined || parent.isDropped)
      return;
    let longestStep = 0;
    let stepStartedAt = performance.now();
    const bank = parent.newChild(record.slot);
    const results: control.TransactionResult[] = [];
    for (const [i, recorded] of record.userBlockSlots.entries()) {
      const blocks: UserBlockForExecution[] = recorded.entries.map((entry, j) => {
        const block = state.blocks[i]![j]!;
        return {
          proposer: entry.proposer,
          entryIndex: entry.entryIndex,
          items: block.items.map((positioned) => ({
            item: positioned.item,
            pohPosition: positioned.pohPosition,
          })),
        };
      });
      results.push(...bank.executeUserBlockSlot(recorded.userBlockSlot, blocks, { signatureCheck }));
      longestStep = Math.max(longestStep, performance.now() - stepStartedAt);
      await yieldToEventLoop();
      stepStartedAt = performance.now();
      if (this.stopped || bank.isDropped || this.slots.get(record.slot) !== state) return;
    }
    const bankHash = bank.freeze(record.lastHash);
    this.forks.insert(bank);
    longestStep = Math.max(longestStep, performance.now() - stepStartedAt);
    state.executed = true;
    // The bank holds what the slot changed; its blocks are not needed any more.
    state.blocks.length = 0;
    this.executedSlots.set(record.slot, { parentSlot: record.parentSlot, bankHash });
    this.newestExecuted = Math.max(this.newestExecuted, record.slot);
    const executed: ExecutedSlot = {
      slot: record.slot,
      parentSlot: record.parentSlot,
      bank,
      bankHash,
      results,
      userBlockSlots: record.userBlockSlots.map((u) => u.userBlockSlot),
      leaderBankHash: null,
      executionSeconds: (performance.now() - startedAt) / 1_000,
      longestStepSeconds: longestStep / 1_000,
      sequence: state.sequence,
    };
    for (const listener of this.executedListeners) listener(executed);
    this.rootBanksIfExecuted();
    await yieldToEventLoop();
  }

  /**
   * Sync mode: a slot's TransactionEntries, in ledger order, on its parent's
   * bank — signatures verified on the thread pool first, the event loop free
   * between entries — then its BankHash against the leader's.
   */
  private async executeSync(state: SlotState): Promise<void> {
    const { record } = state;
    const startedAt = performance.now();
    const limits = this.options.context.genesis.limits;
    const valid: ValidItem[] = [];
    for (const entry of record.transactionEntries) {
      for (const item of entry.items) {
        const decoded = decodeTransactionItem(item, limits, { verifySignatures: false });
        if (decoded.ok) valid.push(decoded.value);
      }
    }
    const signatureCheck = await preverifyItemSignatures(valid);
    const parent = this.forks.get(record.parentSlot);
    if (this.stopped || this.slots.get(record.slot) !== state || parent === undefined || parent.isDropped)
      return;
    if (this.forks.get(record.slot) !== undefined) return;
    let longestStep = 0;
    let stepStartedAt = performance.now();
    const bank = parent.newChild(record.slot);
    const results: control.TransactionResult[] = [];
    for (const entry of record.transactionEntries) {
      for (const executed of bank.executeItems(entry.items, { signatureCheck }))
        results.push(...executed.results);
      longestStep = Math.max(longestStep, performance.now() - stepStartedAt);
      await yieldToEventLoop();
      stepStartedAt = performance.now();
      if (this.stopped || bank.isDropped || this.slots.get(record.slot) !== state) return;
      if (this.forks.get(record.slot) !== undefined) return;
    }
    const bankHash = bank.freeze(record.lastHash);
    this.forks.insert(bank);
    longestStep = Math.max(longestStep, performance.now() - stepStartedAt);
    this.executedSlots.set(record.slot, { parentSlot: record.parentSlot, bankHash });
    this.newestExecuted = Math.max(this.newestExecuted, record.slot);
    const executed: ExecutedSlot = {
      slot: record.slot,
      parentSlot: record.parentSlot,
      bank,
      bankHash,
      results,
      userBlockSlots: [],
      leaderBankHash: record.bankHash,
      executionSeconds: (performance.now() - startedAt) / 1_000,
      longestStepSeconds: longestStep / 1_000,
      sequence: state.sequence,
    };
    for (const listener of this.executedListeners) listener(executed);
    this.settleSync(state, bankHash);
    this.rootBanksIfExecuted();
    await yieldToEventLoop();
  }

  /**
   * Sync mode: an executed slot is ready when its BankHash is the leader's and
   * its parent is not dead here; a BankHash that differs is reported. A child
   * of a dead slot stays dead without a report of its own.
   */
  private settleSync(state: SlotState, bankHash: Uint8Array): void {
    const { record } = state;
    state.executed = true;
    const leaderBankHash = record.bankHash ?? new Uint8Array(0);
    const agrees = bytesEqual(bankHash, leaderBankHash);
    state.matched = agrees && this.slots.get(record.parentSlot)?.matched !== false;
    if (state.matched) {
      this.becameReady(state);
      return;
    }
    if (agrees) return;
    const mismatch: BankHashMismatch = {
      slot: record.slot,
      parentSlot: record.parentSlot,
      bankHash,
      leaderBankHash,
    };
    for (const listener of this.mismatchListeners) listener(mismatch);
  }

  private rootBanksIfExecuted(): void {
    const target = this.targetRoot;
    if (target <= this.forks.root.slot) return;
    const bank = this.forks.get(target);
    if (bank === undefined || !bank.isFrozen) return;
    const dropped = this.forks.setRoot(target);
    for (const slot of dropped) {
      this.forget(slot);
      this.executedSlots.delete(slot);
      this.slotSequence.delete(slot);
    }
    for (const slot of [...this.slots.keys()]) if (slot <= target) this.forget(slot);
    for (const slot of [...this.executedSlots.keys()]) if (slot < target) this.executedSlots.delete(slot);
    for (const slot of [...this.slotSequence.keys()]) if (slot < target) this.slotSequence.delete(slot);
    const sequence = this.slotSequence.get(target) ?? 0;
    for (const listener of this.rootedListeners) listener({ bank, sequence });
  }
}

/** Hex proposer identities from a list of pool indices, names or base58/hex keys, for the fault switches. */
export function proposerIdentitiesHex(
  genesis: LedgerContext["genesis"],
  entries: readonly string[],
): Set<string> {
  const out = new Set<string>();
  for (const raw of entries) {
    const entry = raw.trim();
    if (entry === "") continue;
    const byIndex = /^\d+$/.test(entry) ? genesis.proposerPool[Number(entry)] : undefined;
    const byName = genesis.proposerPool.find((p) => p.name === entry);
    const found = byIndex ?? byName;
    if (found !== undefined) out.add(toHex(found.identity));
    else if (/^[0-9a-f]{64}$/i.test(entry)) out.add(toHex(fromHex(entry)));
    else
      throw new RangeError(`${JSON.stringify(entry)} is neither a pool index, a proposer name nor a hex key`);
  }
  return out;
}
