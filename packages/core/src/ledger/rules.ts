import { ledger } from "@simd23/proto";
import { bytesEqual, toHex } from "../bytes.js";
import { type VerifiedVote, verifySignedVote } from "../consensus/vote.js";
import { ExecutionMode } from "../genesis.js";
import { HASH_BYTES } from "../hash.js";
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verifySignature } from "../keys.js";
import { type ProposerSchedule, userBlockSlotsRecordedIn } from "../schedule/proposer.js";
import { recordingTickHeight } from "../time.js";
import { entryItemsMixin } from "../userblock/digest.js";
import { inspectItem } from "../userblock/items.js";
import type { ChainState, LedgerContext } from "./context.js";
import {
  membershipEntryMixin,
  membershipRequestSigningInput,
  userBlockEntryMixin,
  voteEntryMixin,
} from "./mixins.js";
import type {
  MembershipChangeRecord,
  MembershipViolationReason,
  SlotRecord,
  SlotReplay,
  SlotViolation,
  SlotViolationCode,
  TransactionEntryRecord,
  UserBlockEntryRecord,
  VoteEntryRecord,
} from "./record.js";

export type EntryPayload = NonNullable<ledger.Entry["payload"]>;

/** An entry that passed every rule but PoH: commit it once its hash is known (and before the next admit). */
export interface Admission {
  readonly mixin: Uint8Array | null;
  commit(hash: Uint8Array): void;
}

export type AdmitResult =
  | { readonly ok: true; readonly admission: Admission }
  | { readonly ok: false; readonly violation: SlotViolation };

/** The start's rules: it names the given parent, a later slot, and the slot's scheduled leader. */
export function checkSlotStart(
  context: LedgerContext,
  parent: ChainState,
  start: ledger.SlotStart,
): SlotViolation | null {
  const violation = (code: SlotViolationCode, detail: string): SlotViolation => ({
    code,
    entryIndex: null,
    detail,
  });
  if (start.parentSlot !== parent.slot)
    return violation("WRONG_PARENT", `the start names parent slot ${start.parentSlot}, not ${parent.slot}`);
  if (start.slot <= start.parentSlot)
    return violation("WRONG_PARENT", `slot ${start.slot} is not after its parent ${start.parentSlot}`);
  if (!bytesEqual(start.parentHash, parent.lastHash))
    return violation("WRONG_PARENT", `the parent hash is not the last hash of slot ${parent.slot}`);
  if (start.leader.length !== PUBLIC_KEY_BYTES)
    return violation("MALFORMED", `the leader is ${start.leader.length} bytes, not ${PUBLIC_KEY_BYTES}`);
  if (!bytesEqual(start.leader, context.leaders.leaderOf(start.slot)))
    return violation("WRONG_LEADER", `the start's leader is not the scheduled leader of slot ${start.slot}`);
  return null;
}

/**
 * The rules of one slot's entries, applied in order. The slot builder and the
 * replayer both run every entry through here, so a leader cannot build what a
 * replayer refuses. PoH itself is checked separately (it parallelises).
 */
export class SlotRules {
  readonly slot: number;
  readonly parentSlot: number;
  readonly leader: Uint8Array;
  /** (slot − parent) · ticksPerSlot. */
  readonly totalTicks: number;
  /** The first ticks, which belong to the skipped slots between parent and slot. */
  readonly skippedTicks: number;
  private index = 0;
  private ticks = 0;
  private hashesInTick = 0;
  private last: Uint8Array;
  private schedule: ProposerSchedule;
  private readonly seen = new Set<string>();
  private readonly userBlockEntries: [UserBlockEntryRecord[], UserBlockEntryRecord[]] = [[], []];
  private readonly voteEntries: VoteEntryRecord[] = [];
  private readonly membershipEntries: MembershipChangeRecord[] = [];
  private readonly transactionEntries: TransactionEntryRecord[] = [];
  private transactionComputeUnits = 0n;

  /** The start must have passed {@link checkSlotStart}. */
  constructor(
    private readonly context: LedgerContext,
    private readonly parent: ChainState,
    start: ledger.SlotStart,
  ) {
    const { ticksPerSlot } = context.genesis.timing;
    this.slot = start.slot;
    this.parentSlot = start.parentSlot;
    this.leader = start.leader;
    this.totalTicks = (start.slot - start.parentSlot) * ticksPerSlot;
    this.skippedTicks = (start.slot - start.parentSlot - 1) * ticksPerSlot;
    this.last = parent.lastHash;
    this.schedule = parent.schedule;
  }

  get entryCount(): number {
    return this.index;
  }

  get lastHash(): Uint8Array {
    return this.last;
  }

  /** Ticks completed since slot 0 began. */
  get tickHeight(): number {
    return this.parent.tickHeight + this.ticks;
  }

  get ticksRemaining(): number {
    return this.totalTicks - this.ticks;
  }

  /** Hashes of the current tick already taken by entries. */
  get hashesInCurrentTick(): number {
    return this.hashesInTick;
  }

  /** Whether entries other than ticks may come: after the skipped slots' ticks, before the last tick. */
  get recording(): boolean {
    return this.ticks >= this.skippedTicks && this.ticks < this.totalTicks;
  }

  /** The proposer schedule with this slot's recorded requests applied. */
  get workingSchedule(): ProposerSchedule {
    return this.schedule;
  }

  admit(numHashes: number, payload: EntryPayload | undefined): AdmitResult {
    const at = this.index;
    const fail = (code: SlotViolationCode, detail: string, membershipReason?: MembershipViolationReason) => ({
      ok: false as const,
      violation: {
        code,
        entryIndex: at,
        detail,
        ...(membershipReason === undefined ? {} : { membershipReason }),
      },
    });
    const { hashesPerTick } = this.context.genesis.timing;
    if (this.ticks === this.totalTicks) return fail("BAD_TICKS", "an entry after the slot's last tick");
    if (!Number.isSafeInteger(numHashes) || numHashes < 1)
      return fail("MALFORMED", `an entry takes at least one hash, this one ${numHashes}`);
    if (payload === undefined) return fail("MALFORMED", "the entry has no payload");
    if (payload.$case === "tick") {
      const needed = hashesPerTick - this.hashesInTick;
      if (numHashes !== needed)
        return fail("BAD_TICKS", `this tick takes ${needed} hashes, not ${numHashes}`);
      return this.admitted(null, () => {
        this.ticks++;
        this.hashesInTick = 0;
      });
    }
    if (this.ticks < this.skippedTicks)
      return fail("BAD_TICKS", `the first ${this.skippedTicks} entries are the skipped slots' ticks`);
    if (this.hashesInTick + numHashes >= hashesPerTick) {
      return fail(
        "BAD_TICKS",
        `${numHashes} hashes after ${this.hashesInTick} reach the tick boundary (${hashesPerTick}): ticks come first`,
      );
    }
    const grow = () => {
      this.hashesInTick += numHashes;
    };
    const mode = this.context.genesis.mode;
    switch (payload.$case) {
      case "votes": {
        const { votes } = payload.value;
        if (votes.length === 0) return fail("MALFORMED", "a vote entry without votes");
        const verified: VerifiedVote[] = [];
        for (const [i, signed] of votes.entries()) {
          const result = verifySignedVote(this.context.genesis, signed);
          if (!result.ok) return fail("BAD_VOTE", `vote ${i}: ${result.error.message}`);
          if (result.vote.vote.slot >= this.slot)
            return fail(
              "BAD_VOTE",
              `vote ${i} is for slot ${result.vote.vote.slot}, not one before ${this.slot}`,
            );
          verified.push(result.vote);
        }
        return this.admitted(voteEntryMixin(votes), () => {
          this.voteEntries.push({ entryIndex: at, votes: verified });
          grow();
        });
      }
      case "userBlock": {
        const entry = payload.value;
        if (mode !== ExecutionMode.EXECUTION_MODE_ASYNC)
          return fail("WRONG_MODE", "a UserBlockEntry in sync mode");
        if (entry.blockHash.length !== HASH_BYTES || entry.proposer.length !== PUBLIC_KEY_BYTES)
          return fail("MALFORMED", "a UserBlockEntry holds a 32-byte block hash and a 32-byte proposer");
        const [first, second] = userBlockSlotsRecordedIn(this.slot);
        const u = entry.userBlockSlot;
        if (u !== first && u !== second)
          return fail(
            "USER_BLOCK_WRONG_SLOT",
            `slot ${this.slot} records UserBlockSlots ${first} and ${second}, not ${u}`,
          );
        const height = recordingTickHeight(this.context.genesis.timing, u);
        if (this.tickHeight < height)
          return fail(
            "USER_BLOCK_TOO_EARLY",
            `UserBlockSlot ${u} is recorded from tick height ${height}, not ${this.tickHeight}`,
          );
        const key = `${toHex(entry.proposer)}/${u}`;
        if (this.seen.has(key))
          return fail("USER_BLOCK_DUPLICATE", `a second entry of one proposer for UserBlockSlot ${u}`);
        if (!this.schedule.isScheduled(entry.proposer, u))
          return fail("USER_BLOCK_UNSCHEDULED", `the proposer is not scheduled at UserBlockSlot ${u}`);
        return this.admitted(userBlockEntryMixin(entry), () => {
          this.seen.add(key);
          this.userBlockEntries[u === first ? 0 : 1].push({
            entryIndex: at,
            blockHash: entry.blockHash,
            proposer: entry.proposer,
            userBlockSlot: u,
          });
          grow();
        });
      }
      case "membership": {
        const entry = payload.value;
        let request: ledger.MembershipRequest;
        try {
          request = ledger.MembershipRequest.decode(entry.request);
        } catch (error) {
          return fail(
            "BAD_MEMBERSHIP",
            `the request does not decode: ${(error as Error).message}`,
            "MALFORMED",
          );
        }
        if (request.proposer.length !== PUBLIC_KEY_BYTES || entry.signature.length !== SIGNATURE_BYTES)
          return fail(
            "BAD_MEMBERSHIP",
            "a request names a 32-byte proposer and carries a 64-byte signature",
            "MALFORMED",
          );
        if (!verifySignature(request.proposer, membershipRequestSigningInput(entry.request), entry.signature))
          return fail(
            "BAD_MEMBERSHIP",
            "the proposer's signature over the request does not verify",
            "BAD_SIGNATURE",
          );
        const decision = this.schedule.withRequest(this.slot, request);
        if (!decision.ok) return fail("BAD_MEMBERSHIP", decision.detail, decision.reason);
        return this.admitted(membershipEntryMixin(entry), () => {
          this.schedule = decision.schedule;
          this.membershipEntries.push({ entryIndex: at, change: decision.change });
          grow();
        });
      }
      case "transactions": {
        const { items } = payload.value;
        if (mode !== ExecutionMode.EXECUTION_MODE_SYNC)
          return fail("WRONG_MODE", "a TransactionEntry in async mode");
        if (items.length === 0) return fail("MALFORMED", "a transaction entry without items");
        const digests: Uint8Array[] = [];
        let units = 0n;
        for (const [i, item] of items.entries()) {
          const inspected = inspectItem(item, this.context.genesis.limits);
          if (!inspected.ok)
            return fail(
              inspected.reason === "MALFORMED" ? "MALFORMED" : "OVER_LIMIT",
              `item ${i}: ${inspected.detail}`,
            );
          digests.push(inspected.digest);
          units += BigInt(inspected.computeUnits);
        }
        const { maxSlotComputeUnits } = this.context.genesis.limits;
        if (this.transactionComputeUnits + units > maxSlotComputeUnits)
          return fail("OVER_LIMIT", `the slot's transactions exceed ${maxSlotComputeUnits} compute units`);
        return this.admitted(entryItemsMixin(digests), () => {
          this.transactionEntries.push({ entryIndex: at, items });
          this.transactionComputeUnits += units;
          grow();
        });
      }
    }
  }

  private admitted(mixin: Uint8Array | null, effect: () => void): AdmitResult {
    return {
      ok: true,
      admission: {
        mixin,
        commit: (hash) => {
          effect();
          this.index++;
          this.last = hash;
        },
      },
    };
  }

  /** The end's rules; on success, the slot's record and the chain state after it. */
  finish(end: ledger.SlotEnd): SlotReplay {
    const fail = (code: SlotViolationCode, detail: string): SlotReplay => ({
      ok: false,
      violation: { code, entryIndex: null, detail },
    });
    const { timing, mode } = this.context.genesis;
    if (end.slot !== this.slot || end.parentSlot !== this.parentSlot)
      return fail(
        "BAD_END",
        `the end names slot ${end.slot} on ${end.parentSlot}, not ${this.slot} on ${this.parentSlot}`,
      );
    if (this.ticks !== this.totalTicks)
      return fail("BAD_TICKS", `the slot ends after ${this.ticks} of its ${this.totalTicks} ticks`);
    if (end.entryCount !== this.index)
      return fail("BAD_END", `entryCount ${end.entryCount}, the slot has ${this.index}`);
    if (!bytesEqual(end.lastHash, this.last)) return fail("BAD_END", "lastHash is not the last entry's hash");
    const sync = mode === ExecutionMode.EXECUTION_MODE_SYNC;
    if (sync ? end.bankHash.length !== HASH_BYTES : end.bankHash.length !== 0)
      return fail(
        "BAD_END",
        sync
          ? "sync mode ends a slot with its 32-byte BankHash"
          : "async mode ends a slot without a BankHash",
      );
    const [first, second] = userBlockSlotsRecordedIn(this.slot);
    const [firstEntries, secondEntries] = this.userBlockEntries;
    const closed = this.schedule.closeSlot(this.slot, [...firstEntries, ...secondEntries]);
    const record: SlotRecord = {
      slot: this.slot,
      parentSlot: this.parentSlot,
      leader: this.leader,
      lastHash: this.last,
      entryCount: this.index,
      userBlockSlots: [
        { userBlockSlot: first, activeProposers: this.schedule.activeAt(first), entries: firstEntries },
        { userBlockSlot: second, activeProposers: this.schedule.activeAt(second), entries: secondEntries },
      ],
      votes: this.voteEntries,
      membershipChanges: [
        ...this.membershipEntries,
        ...closed.evictions.map((change) => ({ entryIndex: null, change })),
      ],
      transactionEntries: this.transactionEntries,
      bankHash: sync ? end.bankHash : null,
      next: {
        slot: this.slot,
        lastHash: this.last,
        tickHeight: (this.slot + 1) * timing.ticksPerSlot,
        schedule: closed.schedule,
      },
    };
    return { ok: true, record };
  }
}
