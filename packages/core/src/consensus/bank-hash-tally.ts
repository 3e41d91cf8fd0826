import { control, type vote } from "@simd23/proto";
import { bankHashCommitment } from "../bank/bank-hash.js";
import { bytesEqual } from "../bytes.js";
import type { Genesis } from "../genesis.js";
import { HASH_BYTES } from "../hash.js";
import { exceedsOneThird, reachesTwoThirds, type StakeTable, stakeTableOf } from "./stake.js";
import type { VerifiedVote } from "./vote.js";

export type StakeTally = control.StakeTally;
export type SlotVerdict = control.SlotVerdict;
export type MismatchReport = control.MismatchReport;
export type Halt = control.Halt;
export type MismatchEvidence = control.MismatchEvidence;
export const VerdictLevel = control.VerdictLevel;
export type VerdictLevel = control.VerdictLevel;

/** A slot the verifier executed itself: its BankHash is the reference every commitment is checked against. */
export interface ReferenceBank {
  readonly slot: number;
  readonly parentSlot: number;
  readonly bankHash: Uint8Array;
  /** Carried into the slot's EXECUTED verdict. */
  readonly results?: readonly control.TransactionResult[];
  readonly userBlockSlots?: readonly number[];
}

/** A validator's commitment sha256(BankHash ‖ validator) for a slot, with the signed message that carried it. */
export interface CommitmentObservation {
  readonly validator: Uint8Array;
  readonly slot: number;
  readonly commitment: Uint8Array;
  /** The envelope (or signed vote) that carried the commitment, byte for byte: the evidence. */
  readonly signedMessage: Uint8Array;
}

export type TallyEvent =
  | { readonly kind: "verdict"; readonly verdict: SlotVerdict }
  | { readonly kind: "mismatch-report"; readonly report: MismatchReport }
  | { readonly kind: "halt"; readonly halt: Halt };

export type TallyErrorCode =
  | "unknown-validator"
  | "malformed"
  | "parent-not-older"
  | "unknown-parent"
  | "conflicting-reference"
  | "pruned-slot";

export class TallyError extends Error {
  constructor(
    readonly code: TallyErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "TallyError";
  }
}

export type TallyUpdate =
  | { readonly ok: true; readonly events: readonly TallyEvent[] }
  | { readonly ok: false; readonly error: TallyError };

const MATCHED = 1;
const MISMATCHED = 2;
type Status = typeof MATCHED | typeof MISMATCHED;

interface SlotState {
  readonly bank: ReferenceBank;
  readonly status: Map<number, Status>;
  readonly evidence: Map<number, MismatchEvidence>;
  matched: bigint;
  mismatched: bigint;
  executed: boolean;
  finalized: boolean;
  /** The halted slot or a descendant: its state transition is disputed and it gets no verdict. */
  disputed: boolean;
}

interface LatestRoot {
  readonly voteSlot: number;
  readonly root: number;
}

// Work one update does: slots whose tally moved, and validators newly found mismatching per slot.
interface Pending {
  readonly affected: Set<number>;
  readonly mismatched: Map<number, number[]>;
}

const refuse = (code: TallyErrorCode, message: string): TallyUpdate => ({
  ok: false,
  error: new TallyError(code, message),
});

/**
 * The bank-hash verifier's tally. For each slot it executed it counts the stake whose commitment
 * matched sha256(reference BankHash ‖ validator), did not match, or has not arrived, and emits,
 * once each at the moment the threshold is crossed:
 *  - a halt when mismatched stake exceeds 1/3 (3·mismatched > total), with every mismatching
 *    validator's evidence — the first halt only;
 *  - a mismatch report naming validators that mismatched without crossing that threshold;
 *  - an EXECUTED verdict when matched stake exceeds 1/3 (3·matched > total);
 *  - a FINALIZED verdict when matched stake reaches 2/3 (3·matched ≥ 2·total) and the slot is
 *    rooted in the towers (latest vote roots) of at least 2/3 of stake, on this chain.
 * BankHashes chain, so a commitment that matches for slot d proves the validator's BankHash for
 * every ancestor of d on the reference chain: it counts as a match there unless the validator
 * committed to a different BankHash for that slot itself. A mismatch implies nothing about other
 * slots. A direct mismatch outranks any match for the same slot. After a halt at slot h, no
 * verdict is given for h or its descendants.
 */
export class BankHashTally {
  private readonly stakes: StakeTable;
  private readonly slots = new Map<number, SlotState>();
  // Commitments for slots not executed yet, per slot and validator, first of each distinct value.
  private readonly waiting = new Map<number, Map<number, CommitmentObservation[]>>();
  private readonly roots = new Map<number, LatestRoot>();
  private floor = 0;
  private haltRecord: Halt | null = null;

  constructor(genesis: Genesis) {
    this.stakes = stakeTableOf(genesis);
  }

  get halt(): Halt | null {
    return this.haltRecord;
  }

  /** The stake tally of an executed slot, or undefined for a slot the tally does not hold. */
  tally(slot: number): StakeTally | undefined {
    const state = this.slots.get(slot);
    return state === undefined ? undefined : this.tallyOf(state);
  }

  /** "matched", "mismatched" or "missing" for a validator at an executed slot. */
  statusOf(slot: number, validator: Uint8Array): "matched" | "mismatched" | "missing" | undefined {
    const state = this.slots.get(slot);
    const index = this.stakes.indexOf(validator);
    if (state === undefined || index < 0) return undefined;
    const status = state.status.get(index);
    return status === MATCHED ? "matched" : status === MISMATCHED ? "mismatched" : "missing";
  }

  /**
   * Adds a slot the verifier executed. Its parent must be a slot already added, except for the
   * first slot: the anchor (genesis, or the slot the verifier restarted from), which is taken as
   * finalized. Adding the same slot again with the same BankHash changes nothing.
   */
  addReference(bank: ReferenceBank, nowMs: number): TallyUpdate {
    if (bank.bankHash.length !== HASH_BYTES)
      return refuse("malformed", `BankHash is ${bank.bankHash.length} bytes, expected ${HASH_BYTES}`);
    if (bank.slot < this.floor) return refuse("pruned-slot", `slot ${bank.slot} is below the pruned floor`);
    const known = this.slots.get(bank.slot);
    if (known !== undefined) {
      if (known.bank.parentSlot === bank.parentSlot && bytesEqual(known.bank.bankHash, bank.bankHash))
        return { ok: true, events: [] };
      return refuse("conflicting-reference", `slot ${bank.slot} already has a different reference`);
    }
    // The first reference anchors the chain (slot 0's parent is itself) and is settled history —
    // genesis or a slot finalized before — so it gets no verdict; every later one extends it.
    const anchor = this.slots.size === 0;
    if (!anchor) {
      if (bank.parentSlot >= bank.slot)
        return refuse("parent-not-older", `parent ${bank.parentSlot} of slot ${bank.slot} is not older`);
      if (!this.slots.has(bank.parentSlot))
        return refuse("unknown-parent", `parent ${bank.parentSlot} of slot ${bank.slot} has no reference`);
    }
    this.slots.set(bank.slot, {
      bank,
      status: new Map(),
      evidence: new Map(),
      matched: 0n,
      mismatched: 0n,
      executed: anchor,
      finalized: anchor,
      // Kept per slot, not found by walking to the halted slot: that walk ends where pruning cut the chain.
      disputed: !anchor && this.slots.get(bank.parentSlot)!.disputed,
    });
    const pending: Pending = { affected: new Set([bank.slot]), mismatched: new Map() };
    const waiting = this.waiting.get(bank.slot);
    this.waiting.delete(bank.slot);
    if (waiting !== undefined) {
      for (const index of [...waiting.keys()].sort((a, b) => a - b)) {
        for (const observation of waiting.get(index)!) this.judge(index, observation, pending);
      }
    }
    // Roots that named this slot before it was executed now count for it and its ancestors.
    for (const { root } of this.roots.values()) {
      if (root === bank.slot) for (const s of this.chainFrom(bank.slot)) pending.affected.add(s);
    }
    return { ok: true, events: this.settle(pending, nowMs) };
  }

  /** Counts a validator's commitment for a slot (from a BankHash report or a vote). */
  addCommitment(observation: CommitmentObservation, nowMs: number): TallyUpdate {
    const index = this.stakes.indexOf(observation.validator);
    if (index < 0) return refuse("unknown-validator", "the committer is not a genesis validator");
    if (observation.commitment.length !== HASH_BYTES)
      return refuse(
        "malformed",
        `commitment is ${observation.commitment.length} bytes, expected ${HASH_BYTES}`,
      );
    if (observation.slot < this.floor) return { ok: true, events: [] };
    if (!this.slots.has(observation.slot)) {
      this.wait(index, observation);
      return { ok: true, events: [] };
    }
    const pending: Pending = { affected: new Set(), mismatched: new Map() };
    this.judge(index, observation, pending);
    return { ok: true, events: this.settle(pending, nowMs) };
  }

  /** Records the root of a validator's tower as of its vote on voteSlot; the newest vote's root counts. */
  addRoot(validator: Uint8Array, voteSlot: number, root: number, nowMs: number): TallyUpdate {
    const index = this.stakes.indexOf(validator);
    if (index < 0) return refuse("unknown-validator", "the voter is not a genesis validator");
    const previous = this.roots.get(index);
    if (previous !== undefined && voteSlot <= previous.voteSlot) return { ok: true, events: [] };
    this.roots.set(index, { voteSlot, root });
    const pending: Pending = { affected: new Set(), mismatched: new Map() };
    if (this.slots.has(root)) {
      for (const s of this.chainFrom(root)) {
        if (s === previous?.root) break;
        pending.affected.add(s);
      }
    }
    return { ok: true, events: this.settle(pending, nowMs) };
  }

  /** A verified vote's commitment (its newest BankHash) and tower root; signedMessage is what carried it. */
  addVote(verified: VerifiedVote, signedMessage: Uint8Array, nowMs: number): TallyUpdate {
    const validator = verified.vote.validator;
    const events: TallyEvent[] = [];
    if (verified.bankHash !== null) {
      const update = this.addCommitment(
        { validator, slot: verified.bankHash.slot, commitment: verified.bankHash.commitment, signedMessage },
        nowMs,
      );
      if (!update.ok) return update;
      events.push(...update.events);
    }
    if (verified.tower.root !== null) {
      const update = this.addRoot(validator, verified.vote.slot, verified.tower.root, nowMs);
      if (!update.ok) return update;
      events.push(...update.events);
    }
    return { ok: true, events };
  }

  /** A BankHash report's commitment; signedMessage is the envelope that carried it. */
  addReport(report: vote.BankHashReport, signedMessage: Uint8Array, nowMs: number): TallyUpdate {
    return this.addCommitment(
      {
        validator: report.validator,
        slot: report.slot,
        commitment: report.bankHashCommitment,
        signedMessage,
      },
      nowMs,
    );
  }

  /** Forgets every slot below floor (settled history); later commitments for them are ignored. */
  pruneBelow(floor: number): void {
    if (floor <= this.floor) return;
    this.floor = floor;
    for (const slot of [...this.slots.keys()]) if (slot < floor) this.slots.delete(slot);
    for (const slot of [...this.waiting.keys()]) if (slot < floor) this.waiting.delete(slot);
  }

  private wait(index: number, observation: CommitmentObservation): void {
    let bySlot = this.waiting.get(observation.slot);
    if (bySlot === undefined) {
      bySlot = new Map();
      this.waiting.set(observation.slot, bySlot);
    }
    const list = bySlot.get(index) ?? [];
    if (!list.some((o) => bytesEqual(o.commitment, observation.commitment))) list.push(observation);
    bySlot.set(index, list);
  }

  private judge(index: number, observation: CommitmentObservation, pending: Pending): void {
    const state = this.slots.get(observation.slot)!;
    const stake = this.stakes.stakeAt(index);
    const matches = bytesEqual(
      observation.commitment,
      bankHashCommitment(state.bank.bankHash, this.stakes.identityAt(index)),
    );
    if (!matches) {
      const before = state.status.get(index);
      if (before === MISMATCHED) return;
      if (before === MATCHED) state.matched -= stake;
      state.status.set(index, MISMATCHED);
      state.mismatched += stake;
      state.evidence.set(index, {
        validator: this.stakes.identityAt(index),
        stake,
        commitment: observation.commitment,
        signedMessage: observation.signedMessage,
      });
      pending.affected.add(observation.slot);
      const list = pending.mismatched.get(observation.slot) ?? [];
      list.push(index);
      pending.mismatched.set(observation.slot, list);
      return;
    }
    // A match proves the whole chain below it; slots already matched have had their chain done.
    for (const s of this.chainFrom(observation.slot)) {
      const slotState = this.slots.get(s)!;
      const before = slotState.status.get(index);
      if (before === MATCHED) break;
      if (before === MISMATCHED) continue;
      slotState.status.set(index, MATCHED);
      slotState.matched += stake;
      pending.affected.add(s);
    }
  }

  private settle(pending: Pending, nowMs: number): TallyEvent[] {
    const events: TallyEvent[] = [];
    for (const slot of [...pending.affected].sort((a, b) => a - b)) {
      const state = this.slots.get(slot)!;
      const newlyMismatched = pending.mismatched.get(slot);
      if (newlyMismatched !== undefined) {
        if (this.haltRecord === null && exceedsOneThird(state.mismatched, this.stakes.total)) {
          const tally = this.tallyOf(state);
          this.haltRecord = {
            slot,
            tally,
            evidence: this.evidenceOf(state, [...state.evidence.keys()]),
            reason:
              `${tally.mismatched} of ${tally.total} stake (more than 1/3) committed to a BankHash for slot ` +
              `${slot} that differs from the verifier's`,
            haltedAtMs: BigInt(nowMs),
          };
          events.push({ kind: "halt", halt: this.haltRecord });
          for (const [s, other] of this.slots) if (this.descendsFrom(s, slot)) other.disputed = true;
        } else {
          events.push({
            kind: "mismatch-report",
            report: { slot, evidence: this.evidenceOf(state, newlyMismatched), tally: this.tallyOf(state) },
          });
        }
      }
      if (state.disputed) continue;
      if (!state.executed && exceedsOneThird(state.matched, this.stakes.total)) {
        state.executed = true;
        events.push({ kind: "verdict", verdict: this.verdict(state, VerdictLevel.VERDICT_LEVEL_EXECUTED) });
      }
      if (
        state.executed &&
        !state.finalized &&
        reachesTwoThirds(state.matched, this.stakes.total) &&
        reachesTwoThirds(this.rootedStake(slot), this.stakes.total)
      ) {
        state.finalized = true;
        events.push({ kind: "verdict", verdict: this.verdict(state, VerdictLevel.VERDICT_LEVEL_FINALIZED) });
      }
    }
    return events;
  }

  private verdict(state: SlotState, level: VerdictLevel): SlotVerdict {
    return {
      slot: state.bank.slot,
      level,
      tally: this.tallyOf(state),
      results: level === VerdictLevel.VERDICT_LEVEL_EXECUTED ? [...(state.bank.results ?? [])] : [],
      userBlockSlots: [...(state.bank.userBlockSlots ?? [])],
    };
  }

  private tallyOf(state: SlotState): StakeTally {
    const total = this.stakes.total;
    return {
      matched: state.matched,
      mismatched: state.mismatched,
      missing: total - state.matched - state.mismatched,
      total,
    };
  }

  private evidenceOf(state: SlotState, indices: readonly number[]): MismatchEvidence[] {
    return [...indices].sort((a, b) => a - b).map((i) => state.evidence.get(i)!);
  }

  // Stake whose latest tower root is slot or a descendant of it on the reference chain.
  private rootedStake(slot: number): bigint {
    let stake = 0n;
    for (const [index, { root }] of this.roots) {
      if (this.descendsFrom(root, slot)) stake += this.stakes.stakeAt(index);
    }
    return stake;
  }

  // Whether slot is ancestor or the slot itself on the reference chain.
  private descendsFrom(slot: number, ancestor: number): boolean {
    for (const s of this.chainFrom(slot)) {
      if (s === ancestor) return true;
      if (s < ancestor) return false;
    }
    return false;
  }

  // slot, its parent, … down to the anchor or the oldest slot the tally holds.
  private *chainFrom(slot: number): Generator<number> {
    let s = slot;
    for (let state = this.slots.get(s); state !== undefined; state = this.slots.get(s)) {
      yield s;
      if (state.bank.parentSlot >= s) return;
      s = state.bank.parentSlot;
    }
  }
}
