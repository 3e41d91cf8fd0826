import type { Bus, Replay, StoredMessage } from "@simd23/bus";
import {
  type AsyncPohVerifier,
  bytesEqual,
  type ChainState,
  decodeLedgerMessage,
  EnvelopeKind,
  firstInvalidEntryAsync,
  genesisChainState,
  groupSlotMessages,
  type LedgerContext,
  openEnvelope,
  type PohEntry,
  replaySlotAsync,
  type SlotRecord,
  type SlotViolation,
  toHex,
} from "@simd23/core";
import type { ledger } from "@simd23/proto";
import type { MessageRefusals } from "./message-refusals.js";
import { subjects } from "./subjects.js";

/** A slot that replayed cleanly on its parent. */
export interface FollowedSlot {
  readonly record: SlotRecord;
  /** The LEDGER stream sequence of the slot's last message. */
  readonly sequence: number;
}

export interface DeadSlot {
  readonly slot: number;
  readonly parentSlot: number;
  readonly leader: Uint8Array;
  readonly violation: SlotViolation;
}

/** A ledger entry as it arrives, before its slot is complete and checked. */
export interface ArrivingEntry {
  readonly entry: ledger.SlotEntry;
  readonly leader: Uint8Array;
  readonly time: Date;
}

export interface LedgerFollowerOptions {
  readonly bus: Bus;
  readonly context: LedgerContext;
  /**
   * Slots at or below this one skip PoH verification: a restarting node verified
   * them before it wrote its snapshot. Every other rule still runs.
   */
  readonly trustPohThroughSlot?: number;
  /**
   * Skips PoH verification of every slot (each is still signed by the leader it names, whose
   * place in the leader schedule the replay checks with every other rule). For a role that does
   * not vote and so never vouches for a slot: a proposer (protocol.md §19.7).
   */
  readonly trustScheduledLeaderPoh?: boolean;
  /** Where refused LEDGER messages are counted (otherwise they are reported to onError). */
  readonly refusals?: MessageRefusals;
  /** Keeps this many slots below the newest one (and never drops ancestors of a set root's descendants). */
  readonly retainSlots?: number;
  readonly verifyPoh?: AsyncPohVerifier;
  readonly onError?: (error: Error) => void;
}

interface PendingSlot {
  readonly leader: Uint8Array;
  start: ledger.SlotStart | undefined;
  readonly entries: Map<number, ledger.SlotEntry>;
  end: ledger.SlotEnd | undefined;
  sequence: number;
}

interface KnownSlot {
  readonly state: ChainState;
  readonly parentSlot: number;
  readonly record: SlotRecord | undefined;
}

type Listener<T> = (value: T) => void;

/**
 * Follows the LEDGER stream from its start: checks every message's envelope,
 * assembles each slot, replays it on its parent's chain state with the core's
 * rules, and keeps the chain states of recent slots on every fork. Roles learn
 * of slots through its events; a slot whose parent has not arrived waits for it.
 */
export class LedgerFollower {
  private readonly known = new Map<number, KnownSlot>();
  private readonly dead = new Set<number>();
  private readonly pending = new Map<string, PendingSlot>();
  private readonly waitingOnParent = new Map<number, PendingSlot[]>();
  private readonly slotListeners: Listener<FollowedSlot>[] = [];
  private readonly deadListeners: Listener<DeadSlot>[] = [];
  private readonly entryListeners: Listener<ArrivingEntry>[] = [];
  private readonly caughtUpListeners: (() => void)[] = [];
  private replay: Replay | undefined;
  private running: Promise<void> | undefined;
  private newest = 0;
  private rootSlot = 0;
  private lastSequence = 0;
  private caughtUpFlag = false;
  private readonly retainSlots: number;

  constructor(private readonly options: LedgerFollowerOptions) {
    const genesis = genesisChainState(options.context);
    this.known.set(0, { state: genesis, parentSlot: 0, record: undefined });
    this.retainSlots =
      options.retainSlots ??
      options.context.genesis.timing.blockhashValiditySlots +
        2 * options.context.genesis.timing.maxLockoutHistory;
  }

  onSlot(listener: Listener<FollowedSlot>): void {
    this.slotListeners.push(listener);
  }

  onDeadSlot(listener: Listener<DeadSlot>): void {
    this.deadListeners.push(listener);
  }

  /** Entries as they arrive (their slot is not yet checked): for latency, never for decisions. */
  onEntry(listener: Listener<ArrivingEntry>): void {
    this.entryListeners.push(listener);
  }

  /** Called once, when the follower has processed every message the stream held when it started. */
  onCaughtUp(listener: () => void): void {
    if (this.caughtUpFlag) listener();
    else this.caughtUpListeners.push(listener);
  }

  get caughtUp(): boolean {
    return this.caughtUpFlag;
  }

  /** The newest slot that replayed cleanly (0, genesis, before any). */
  get newestSlot(): number {
    return this.newest;
  }

  get sequence(): number {
    return this.lastSequence;
  }

  state(slot: number): ChainState | undefined {
    return this.known.get(slot)?.state;
  }

  record(slot: number): SlotRecord | undefined {
    return this.known.get(slot)?.record;
  }

  parentOf(slot: number): number | undefined {
    return slot === 0 ? undefined : this.known.get(slot)?.parentSlot;
  }

  isDead(slot: number): boolean {
    return this.dead.has(slot);
  }

  /** The slot's known ancestors, newest first, down to the oldest slot still kept. */
  ancestors(slot: number): number[] {
    const out: number[] = [];
    let current = this.parentOf(slot);
    while (current !== undefined) {
      out.push(current);
      current = this.parentOf(current);
    }
    return out;
  }

  /**
   * The blockhashes valid for a transaction executed in a child of `slot`: the
   * last hashes of `slot` and its ancestors within the validity window (hex → slot).
   */
  recentBlockhashes(slot: number): Map<string, number> {
    const window = this.options.context.genesis.timing.blockhashValiditySlots;
    const out = new Map<string, number>();
    for (let current: number | undefined = slot; current !== undefined; current = this.parentOf(current)) {
      if (slot + 1 - current > window) break;
      const state = this.state(current);
      if (state) out.set(toHex(state.lastHash), current);
    }
    return out;
  }

  /** Slots below the new root are no longer needed by the caller. */
  setRoot(slot: number): void {
    this.rootSlot = Math.max(this.rootSlot, slot);
    this.prune();
  }

  /** Starts following from the stream's first message; resolves once the history is processed. */
  async start(): Promise<void> {
    const history = this.options.bus.replay({
      stream: "LEDGER",
      filterSubjects: [subjects.allLedger],
      start: "all",
      stopAtEnd: true,
    });
    this.replay = history;
    for await (const message of history) await this.handle(message);
    this.caughtUpFlag = true;
    for (const listener of this.caughtUpListeners.splice(0)) listener();
    if (this.replay !== history) return;
    const live = this.options.bus.replay({
      stream: "LEDGER",
      filterSubjects: [subjects.allLedger],
      start: { sequence: this.lastSequence + 1 },
    });
    this.replay = live;
    this.running = (async () => {
      for await (const message of live) await this.handle(message);
    })().catch((error: Error) => this.options.onError?.(error));
  }

  async stop(): Promise<void> {
    const replay = this.replay;
    this.replay = undefined;
    replay?.stop();
    await this.running;
  }

  private report(error: Error): void {
    this.options.onError?.(error);
  }

  /** A LEDGER message refused: counted when the role gave its refusals, reported otherwise. */
  private refuse(reason: string, detail: string): void {
    if (this.options.refusals === undefined) this.report(new Error(detail));
    else this.options.refusals.refuse("LEDGER", reason, detail);
  }

  private async handle(message: StoredMessage): Promise<void> {
    this.lastSequence = Math.max(this.lastSequence, message.seq);
    const opened = openEnvelope(this.options.context.genesis, message.data, EnvelopeKind.KIND_LEDGER);
    if (!opened.ok)
      return this.refuse(opened.error.code, `LEDGER seq ${message.seq}: ${opened.error.message}`);
    const decoded = decodeLedgerMessage(opened.envelope.body);
    if (!decoded.ok)
      return this.refuse("malformed", `LEDGER seq ${message.seq}: ${decoded.violation.detail}`);
    const kind = decoded.message.kind;
    if (kind === undefined) return;
    const slot = kind.value.slot;
    if (slot <= this.rootSlot || this.known.has(slot) || this.dead.has(slot)) return;
    const leader = opened.envelope.signer;
    const key = `${slot}/${toHex(leader)}`;
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = { leader, start: undefined, entries: new Map(), end: undefined, sequence: message.seq };
      this.pending.set(key, pending);
    }
    pending.sequence = message.seq;
    switch (kind.$case) {
      case "start":
        pending.start = kind.value;
        break;
      case "entry":
        if (!pending.entries.has(kind.value.index)) {
          pending.entries.set(kind.value.index, kind.value);
          for (const listener of this.entryListeners)
            listener({ entry: kind.value, leader, time: message.time });
        }
        break;
      case "end":
        pending.end = kind.value;
        break;
    }
    if (
      pending.start !== undefined &&
      pending.end !== undefined &&
      pending.entries.size >= pending.end.entryCount
    ) {
      this.pending.delete(key);
      await this.complete(pending);
    }
  }

  private async complete(pending: PendingSlot): Promise<void> {
    const start = pending.start!;
    // Any leader-running validator may sign LEDGER messages; only the one the
    // slot names (checked against the schedule by the replayer) may sign its
    // slot. A forgery is dropped, not marked dead, so it cannot kill the real slot.
    if (!bytesEqual(pending.leader, start.leader)) {
      return this.refuse(
        "wrong-signer",
        `slot ${start.slot}: signed by ${toHex(pending.leader)}, not by the leader it names`,
      );
    }
    if (this.dead.has(start.parentSlot)) {
      return this.markDead(pending, {
        code: "WRONG_PARENT",
        entryIndex: null,
        detail: `parent slot ${start.parentSlot} is dead`,
      });
    }
    const parent = this.known.get(start.parentSlot);
    if (parent === undefined) {
      const waiting = this.waitingOnParent.get(start.parentSlot) ?? [];
      waiting.push(pending);
      this.waitingOnParent.set(start.parentSlot, waiting);
      return;
    }
    const entries = [...pending.entries.values()].sort((a, b) => a.index - b.index);
    // A slot must carry a tick for every slot since its parent; refusing a short
    // one first keeps a far-future SlotStart from costing a leader-schedule computation.
    const ticksOwed = (start.slot - start.parentSlot) * this.options.context.genesis.timing.ticksPerSlot;
    if (start.slot <= start.parentSlot || entries.length < ticksOwed) {
      return this.markDead(pending, {
        code: "BAD_TICKS",
        entryIndex: null,
        detail: `${entries.length} entries cannot hold the ${ticksOwed} ticks owed since slot ${start.parentSlot}`,
      });
    }
    const grouped = groupSlotMessages([
      { kind: { $case: "start", value: start } },
      ...entries.map((entry) => ({ kind: { $case: "entry" as const, value: entry } })),
      { kind: { $case: "end", value: pending.end! } },
    ]);
    if (!grouped.ok) return this.markDead(pending, grouped.violation);
    const trusted = this.options.trustPohThroughSlot ?? -1;
    const verify: AsyncPohVerifier =
      start.slot <= trusted || this.options.trustScheduledLeaderPoh === true
        ? async (_start: Uint8Array, _entries: readonly PohEntry[]) => -1
        : (this.options.verifyPoh ?? firstInvalidEntryAsync);
    const replay = await replaySlotAsync(this.options.context, parent.state, grouped.slot, verify);
    if (!replay.ok) return this.markDead(pending, replay.violation);
    const record = replay.record;
    this.known.set(record.slot, { state: record.next, parentSlot: record.parentSlot, record });
    this.newest = Math.max(this.newest, record.slot);
    for (const listener of this.slotListeners) listener({ record, sequence: pending.sequence });
    this.prune();
    for (const child of this.waitingOnParent.get(record.slot) ?? []) await this.complete(child);
    this.waitingOnParent.delete(record.slot);
  }

  private async markDead(pending: PendingSlot, violation: SlotViolation): Promise<void> {
    const start = pending.start!;
    this.dead.add(start.slot);
    for (const listener of this.deadListeners) {
      listener({ slot: start.slot, parentSlot: start.parentSlot, leader: pending.leader, violation });
    }
    for (const child of this.waitingOnParent.get(start.slot) ?? []) await this.complete(child);
    this.waitingOnParent.delete(start.slot);
  }

  private prune(): void {
    const floor = Math.max(this.rootSlot, this.newest - this.retainSlots);
    for (const slot of this.known.keys()) if (slot < floor) this.known.delete(slot);
    for (const slot of this.dead) if (slot < floor) this.dead.delete(slot);
    for (const [key, pending] of this.pending) {
      const slot = pending.start?.slot ?? pending.end?.slot ?? Number(key.split("/")[0]);
      if (slot < floor) this.pending.delete(key);
    }
    for (const slot of this.waitingOnParent.keys()) if (slot < floor) this.waitingOnParent.delete(slot);
  }
}
