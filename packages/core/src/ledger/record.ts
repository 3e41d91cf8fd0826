import type { tx } from "@simd23/proto";
import type { VerifiedVote } from "../consensus/vote.js";
import type { MembershipChange, MembershipRefusalReason } from "../schedule/proposer.js";
import type { ChainState } from "./context.js";

/** The rule a slot breaks; a slot that breaks one is dead (never voted on, never executed). */
export type SlotViolationCode =
  /** A field is missing or has the wrong size, a payload does not decode, or an entry names another slot. */
  | "MALFORMED"
  /** The start does not name the given parent (slot and last hash), or the slot is not after it. */
  | "WRONG_PARENT"
  /** The start's leader is not the scheduled leader of the slot. */
  | "WRONG_LEADER"
  /** Entries are not numbered 0, 1, 2, … in order. */
  | "NON_CONTIGUOUS"
  /** An entry's hash does not follow from the previous one. */
  | "BAD_POH"
  /** Ticks are not every hashesPerTick hashes, an entry sits among skipped slots' ticks or after the last
   * tick, or the slot ends without (slot − parent) · ticksPerSlot ticks. */
  | "BAD_TICKS"
  /** A UserBlockEntry in sync mode, or a TransactionEntry in async mode. */
  | "WRONG_MODE"
  /** A UserBlockEntry for a UserBlockSlot other than 2s − 1 and 2s. */
  | "USER_BLOCK_WRONG_SLOT"
  /** A UserBlockEntry before the PoH reached recordingTickHeight(u). */
  | "USER_BLOCK_TOO_EARLY"
  /** A second UserBlockEntry for one (proposer, u). */
  | "USER_BLOCK_DUPLICATE"
  /** A UserBlockEntry from a proposer not scheduled at u on this chain. */
  | "USER_BLOCK_UNSCHEDULED"
  /** A vote entry holding a vote that does not verify (verifySignedVote) or is not for an earlier slot. */
  | "BAD_VOTE"
  /** A membership entry the leader may not record (see membershipReason). */
  | "BAD_MEMBERSHIP"
  /** Sync mode: the slot's transactions exceed the slot's compute units. */
  | "OVER_LIMIT"
  /** The end does not match the slot: slot, parent, entry count, last hash or bank hash. */
  | "BAD_END";

export type MembershipViolationReason = MembershipRefusalReason | "MALFORMED" | "BAD_SIGNATURE";

export interface SlotViolation {
  readonly code: SlotViolationCode;
  /** The offending entry's index; null for the start and the end. */
  readonly entryIndex: number | null;
  readonly detail: string;
  readonly membershipReason?: MembershipViolationReason;
}

/** Thrown by the slot builder when asked to produce what the replayer would refuse. */
export class SlotViolationError extends Error {
  constructor(readonly violation: SlotViolation) {
    const where = violation.entryIndex === null ? "" : ` at entry ${violation.entryIndex}`;
    super(`${violation.code}${where}: ${violation.detail}`);
    this.name = "SlotViolationError";
  }
}

export interface UserBlockEntryRecord {
  /** Position in the slot: the order of UserBlockEntries in the leader's PoH. */
  readonly entryIndex: number;
  readonly blockHash: Uint8Array;
  readonly proposer: Uint8Array;
  readonly userBlockSlot: number;
}

export interface RecordedUserBlockSlot {
  readonly userBlockSlot: number;
  /** The active set at this UserBlockSlot on this chain: it sets each block's compute-unit limit. */
  readonly activeProposers: readonly Uint8Array[];
  /** In ledger order. */
  readonly entries: readonly UserBlockEntryRecord[];
}

export interface VoteEntryRecord {
  readonly entryIndex: number;
  /** Verified, in entry order; each keeps the signed bytes it was recorded as. */
  readonly votes: readonly VerifiedVote[];
}

export interface MembershipChangeRecord {
  /** The membership entry; null for an eviction, which the slot decides at its end. */
  readonly entryIndex: number | null;
  readonly change: MembershipChange;
}

export interface TransactionEntryRecord {
  readonly entryIndex: number;
  readonly items: readonly tx.TransactionItem[];
}

/** A slot that passed every rule. */
export interface SlotRecord {
  readonly slot: number;
  readonly parentSlot: number;
  readonly leader: Uint8Array;
  /** The slot's last PoH hash: its blockhash. */
  readonly lastHash: Uint8Array;
  readonly entryCount: number;
  /** The two UserBlockSlots the slot records, 2s − 1 then 2s. */
  readonly userBlockSlots: readonly [RecordedUserBlockSlot, RecordedUserBlockSlot];
  readonly votes: readonly VoteEntryRecord[];
  /** Requests recorded, in ledger order, then the evictions the slot decided. */
  readonly membershipChanges: readonly MembershipChangeRecord[];
  /** Sync mode only. */
  readonly transactionEntries: readonly TransactionEntryRecord[];
  /** Sync mode only: the BankHash the leader computed; null in async mode. */
  readonly bankHash: Uint8Array | null;
  /** The chain state after this slot: what its children are built on and checked against. */
  readonly next: ChainState;
}

export type SlotReplay =
  | { readonly ok: true; readonly record: SlotRecord }
  | { readonly ok: false; readonly violation: SlotViolation };
