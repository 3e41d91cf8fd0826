import type { ledger, tx, vote } from "@simd23/proto";
import type { PohEntry } from "../poh/entry.js";
import { PohRecorder } from "../poh/recorder.js";
import type { ProposerSchedule } from "../schedule/proposer.js";
import type { ChainState, LedgerContext } from "./context.js";
import { type SlotRecord, type SlotViolation, type SlotViolationCode, SlotViolationError } from "./record.js";
import { checkSlotStart, type EntryPayload, SlotRules } from "./rules.js";

/** The outcome of recording what came from the network: refused, it is not recorded and nothing changes. */
export type Recording =
  | { readonly ok: true; readonly entry: ledger.SlotEntry }
  | { readonly ok: false; readonly violation: SlotViolation };

/**
 * The leader's slot, built step by step by the leader service, which owns the
 * clock and decides when to hash, tick and record. Every entry goes through the
 * same rules as {@link replaySlot}, so a finished slot always replays to the
 * same record; a step that would break a rule throws a SlotViolationError and
 * changes nothing — except votes and membership requests, which come from the
 * network: those are refused with a result.
 *
 * PoH runs in a {@link PohRecorder} from the parent's last hash: `hash(n)`
 * advances it without an entry (up to the tick); `tick()` completes the current
 * tick (every hashesPerTick hashes, entries' hashes included) as an entry; a
 * record takes one more hash, the mixin's, and must leave the tick's own hash.
 */
export class SlotBuilder {
  readonly start: ledger.SlotStart;
  private readonly rules: SlotRules;
  private readonly poh: PohRecorder;
  private ended = false;

  /** Throws a SlotViolationError when the leader is not scheduled for the slot or it does not follow the parent. */
  constructor(context: LedgerContext, parent: ChainState, slot: number, leader: Uint8Array) {
    this.start = { slot, parentSlot: parent.slot, parentHash: parent.lastHash, leader };
    const violation = checkSlotStart(context, parent, this.start);
    if (violation !== null) throw new SlotViolationError(violation);
    this.rules = new SlotRules(context, parent, this.start);
    this.poh = new PohRecorder(parent.lastHash, {
      hashesPerTick: context.genesis.timing.hashesPerTick,
      tickHeight: parent.tickHeight,
    });
  }

  get slot(): number {
    return this.start.slot;
  }

  get entryCount(): number {
    return this.rules.entryCount;
  }

  /** Ticks completed since slot 0 began. */
  get tickHeight(): number {
    return this.rules.tickHeight;
  }

  get ticksRemaining(): number {
    return this.rules.ticksRemaining;
  }

  /** Plain hashes left before the tick's own hash is due (what hash(n) does at most now). */
  get hashesUntilTick(): number {
    return this.poh.hashesUntilTick;
  }

  /** Whether a payload can be recorded now (past the skipped slots' ticks, before the last tick, not at a tick). */
  get canRecord(): boolean {
    return this.rules.recording && this.poh.hashesUntilTick >= 1;
  }

  /** Whether every tick is done and only end() remains. */
  get complete(): boolean {
    return this.rules.ticksRemaining === 0;
  }

  /** The proposer schedule of this chain with the requests recorded so far in this slot. */
  get schedule(): ProposerSchedule {
    return this.rules.workingSchedule;
  }

  /** Advances the PoH by up to n hashes without an entry, stopping where the tick is due; returns how many. */
  hash(n: number): number {
    this.assertHashing();
    return this.poh.hash(n);
  }

  /** hash(n) without holding the event loop; no other call may run until it settles. */
  hashAsync(n: number): Promise<number> {
    this.assertHashing();
    return this.poh.hashAsync(n);
  }

  /** Completes the current tick. */
  tick(): ledger.SlotEntry {
    return this.append(
      this.poh.hashesSinceEntry + this.poh.hashesUntilTick + 1,
      { $case: "tick", value: {} },
      () => this.poh.tick(),
    );
  }

  /**
   * Records signed votes (mixin: voteEntryMixin). Refused (BAD_VOTE) when one
   * does not verify or is not for an earlier slot: check votes one by one with
   * verifySignedVote before batching them.
   */
  recordVotes(votes: readonly vote.SignedVote[]): Recording {
    return this.recordFromNetwork("BAD_VOTE", { $case: "votes", value: { votes: [...votes] } });
  }

  /** Records a UserBlockEntry for a well-formed block of UserBlockSlot 2s − 1 or 2s. */
  recordUserBlock(entry: ledger.UserBlockEntry): ledger.SlotEntry {
    return this.record({ $case: "userBlock", value: entry });
  }

  /**
   * Records a proposer's membership request: `request` is the envelope body (an
   * encoded ledger.MembershipRequest) and `signature` the envelope's signature.
   * A request the rules refuse is returned as a violation and not recorded.
   */
  recordMembership(request: Uint8Array, signature: Uint8Array): Recording {
    return this.recordFromNetwork("BAD_MEMBERSHIP", { $case: "membership", value: { request, signature } });
  }

  /** Sync mode: records transactions the leader executed. */
  recordTransactions(items: readonly tx.TransactionItem[]): ledger.SlotEntry {
    return this.record({ $case: "transactions", value: { items: [...items] } });
  }

  /**
   * Closes the slot after its last tick. `bankHash` is required in sync mode
   * and absent in async mode. Returns the end message and the slot's record,
   * whose `next` the leader builds its following slot on.
   */
  end(bankHash?: Uint8Array): { readonly end: ledger.SlotEnd; readonly record: SlotRecord } {
    this.assertOpen();
    const end: ledger.SlotEnd = {
      slot: this.start.slot,
      parentSlot: this.start.parentSlot,
      entryCount: this.rules.entryCount,
      lastHash: this.rules.lastHash,
      bankHash: bankHash ?? new Uint8Array(0),
    };
    const finished = this.rules.finish(end);
    if (!finished.ok) throw new SlotViolationError(finished.violation);
    this.ended = true;
    return { end, record: finished.record };
  }

  private recordFromNetwork(refusal: SlotViolationCode, payload: EntryPayload): Recording {
    try {
      return { ok: true, entry: this.record(payload) };
    } catch (error) {
      if (error instanceof SlotViolationError && error.violation.code === refusal)
        return { ok: false, violation: error.violation };
      throw error;
    }
  }

  private record(payload: EntryPayload): ledger.SlotEntry {
    return this.append(this.poh.hashesSinceEntry + 1, payload, (mixin) => this.poh.record(mixin!));
  }

  private append(
    numHashes: number,
    payload: EntryPayload,
    hashEntry: (mixin: Uint8Array | null) => PohEntry,
  ): ledger.SlotEntry {
    this.assertOpen();
    const admitted = this.rules.admit(numHashes, payload);
    if (!admitted.ok) throw new SlotViolationError(admitted.violation);
    const index = this.rules.entryCount;
    const { hash } = hashEntry(admitted.admission.mixin);
    admitted.admission.commit(hash);
    return { slot: this.start.slot, index, entry: { numHashes, hash, payload } };
  }

  private assertHashing(): void {
    this.assertOpen();
    if (this.complete) {
      throw new SlotViolationError({
        code: "BAD_TICKS",
        entryIndex: this.rules.entryCount,
        detail: `slot ${this.start.slot} has all its ticks: end() it and build the next slot on its record`,
      });
    }
  }

  private assertOpen(): void {
    if (this.ended) throw new Error(`slot ${this.start.slot} has ended`);
  }
}
