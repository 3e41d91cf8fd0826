import { ledger } from "@simd23/proto";
import { compareBytes, toHex } from "../bytes.js";
import type { Genesis, Timing } from "../genesis.js";
import { slotOfUserBlockSlot } from "../time.js";

export type MembershipAction = "join" | "leave";
/** A change comes from a proposer's recorded request, or from the ledger itself when it stops producing. */
export type MembershipCause = "request" | "eviction";

/** A membership change recorded on a chain; it applies from effectiveSlot on. */
export interface MembershipChange {
  readonly proposer: Uint8Array;
  readonly action: MembershipAction;
  readonly cause: MembershipCause;
  readonly recordedAtSlot: number;
  readonly effectiveSlot: number;
}

/** Why a leader may not record a membership request (and why a ledger that did is invalid). */
export type MembershipRefusalReason =
  | "NOT_IN_POOL"
  | "BAD_ACTION"
  | "FROM_FUTURE"
  | "STALE"
  | "REPLAYED"
  | "NOT_A_CHANGE";

export type MembershipDecision =
  | { readonly ok: true; readonly schedule: ProposerSchedule; readonly change: MembershipChange }
  | { readonly ok: false; readonly reason: MembershipRefusalReason; readonly detail: string };

/** A UserBlockEntry as the schedule sees it: who was recorded for which UserBlockSlot. */
export interface RecordedUserBlockRef {
  readonly proposer: Uint8Array;
  readonly userBlockSlot: number;
}

export interface ClosedSlot {
  readonly schedule: ProposerSchedule;
  /** Proposers this slot scheduled to leave for missing too many recorded UserBlockSlots. */
  readonly evictions: readonly MembershipChange[];
}

/** The two UserBlockSlots a slot s records: 2s − 1 (the end of slot s − 1) and 2s (its own first half). */
export function userBlockSlotsRecordedIn(slot: number): readonly [number, number] {
  if (!Number.isSafeInteger(slot) || slot < 1) throw new RangeError(`slot ${slot} records no UserBlockSlot`);
  return [2 * slot - 1, 2 * slot];
}

interface Rules {
  readonly timing: Timing;
  readonly pool: ReadonlySet<string>;
}

const ACTIONS = new Map<number, MembershipAction>([
  [ledger.MembershipAction.MEMBERSHIP_ACTION_JOIN, "join"],
  [ledger.MembershipAction.MEMBERSHIP_ACTION_LEAVE, "leave"],
]);

const ACTIVE_CACHE_LIMIT = 16;

/**
 * The proposer schedule of one chain after `slot`: an immutable value, so every
 * fork keeps its own and updating it per slot copies only a few small arrays.
 *
 * - `members`: pool proposers whose join is in effect at `slot`, in join order.
 * - `pending`: recorded changes that take effect later, in recording order.
 * - The active set of UserBlockSlot u is the first `maxProposersPerUserBlockSlot`
 *   members (by seniority) in effect at slot(u), ordered by identity.
 */
export class ProposerSchedule {
  // An ES private field, so that equality of two schedules is equality of their state.
  readonly #activeCache = new Map<number, readonly Uint8Array[]>();

  private constructor(
    private readonly rules: Rules,
    readonly slot: number,
    readonly members: readonly Uint8Array[],
    readonly pending: readonly MembershipChange[],
    private readonly misses: ReadonlyMap<string, number>,
    private readonly lastRequestedAt: ReadonlyMap<string, number>,
  ) {}

  /** The schedule at genesis: no member; proposers join by request. */
  static genesis(genesis: Genesis): ProposerSchedule {
    const pool = new Set(genesis.proposerPool.map((p) => toHex(p.identity)));
    return new ProposerSchedule({ timing: genesis.timing, pool }, 0, [], [], new Map(), new Map());
  }

  /** Members in effect at a slot ≥ this.slot, in join order. */
  membersAt(slot: number): readonly Uint8Array[] {
    if (slot < this.slot)
      throw new RangeError(`the schedule after slot ${this.slot} does not know the members of slot ${slot}`);
    return applyChanges(
      this.members,
      this.pending.filter((c) => c.effectiveSlot <= slot),
    );
  }

  /**
   * The active proposers of UserBlockSlot u, ordered by identity. Final for
   * slot(u) ≤ this.slot + membershipDelaySlots; beyond that, changes recorded
   * after this.slot may still apply.
   */
  activeAt(userBlockSlot: number): readonly Uint8Array[] {
    let active = this.#activeCache.get(userBlockSlot);
    if (active === undefined) {
      active = this.membersAt(slotOfUserBlockSlot(userBlockSlot))
        .slice(0, this.rules.timing.maxProposersPerUserBlockSlot)
        .sort(compareBytes);
      if (this.#activeCache.size >= ACTIVE_CACHE_LIMIT) this.#activeCache.clear();
      this.#activeCache.set(userBlockSlot, active);
    }
    return active;
  }

  isScheduled(proposer: Uint8Array, userBlockSlot: number): boolean {
    return this.activeAt(userBlockSlot).some((p) => compareBytes(p, proposer) === 0);
  }

  /** Whether the proposer is a member once every pending change applied: what a request must change. */
  isMember(proposer: Uint8Array): boolean {
    return applyChanges(this.members, this.pending).some((p) => compareBytes(p, proposer) === 0);
  }

  /** Consecutive recorded UserBlockSlots at which the scheduled proposer had no UserBlockEntry. */
  missesOf(proposer: Uint8Array): number {
    return this.misses.get(toHex(proposer)) ?? 0;
  }

  /** requestedAtSlot of the proposer's last recorded request, while it could still matter. */
  lastRequestedAtSlotOf(proposer: Uint8Array): number | undefined {
    return this.lastRequestedAt.get(toHex(proposer));
  }

  /**
   * Records a (signature-checked) membership request in slot `slot` of a chain
   * whose parent state this is: a fresh change by a pool proposer, taking effect
   * at slot + membershipDelaySlots. Leaders record a request only when this
   * accepts it; ledger replay applies the same function.
   */
  withRequest(slot: number, request: ledger.MembershipRequest): MembershipDecision {
    if (!Number.isSafeInteger(slot) || slot <= this.slot)
      throw new RangeError(`a request is recorded in a slot after ${this.slot}, got ${slot}`);
    const { timing } = this.rules;
    const id = toHex(request.proposer);
    const action = ACTIONS.get(request.action);
    const refuse = (reason: MembershipRefusalReason, detail: string): MembershipDecision => ({
      ok: false,
      reason,
      detail,
    });
    if (!this.rules.pool.has(id)) return refuse("NOT_IN_POOL", "the requester is not a pool proposer");
    if (action === undefined)
      return refuse("BAD_ACTION", `action ${request.action} is neither join nor leave`);
    if (request.requestedAtSlot > slot)
      return refuse("FROM_FUTURE", `requested at slot ${request.requestedAtSlot}, recorded in slot ${slot}`);
    if (slot - request.requestedAtSlot > timing.membershipRequestValiditySlots) {
      return refuse(
        "STALE",
        `requested at slot ${request.requestedAtSlot}, more than ${timing.membershipRequestValiditySlots} slots before ${slot}`,
      );
    }
    const last = this.lastRequestedAt.get(id);
    if (last !== undefined && request.requestedAtSlot <= last) {
      return refuse(
        "REPLAYED",
        `requested at slot ${request.requestedAtSlot}, not after the last recorded request (slot ${last})`,
      );
    }
    const member = this.isMember(request.proposer);
    if ((action === "join") === member)
      return refuse("NOT_A_CHANGE", action === "join" ? "already a member" : "not a member");
    const change: MembershipChange = {
      proposer: request.proposer,
      action,
      cause: "request",
      recordedAtSlot: slot,
      effectiveSlot: slot + timing.membershipDelaySlots,
    };
    const lastRequestedAt = new Map(this.lastRequestedAt).set(id, request.requestedAtSlot);
    return {
      ok: true,
      change,
      schedule: new ProposerSchedule(
        this.rules,
        this.slot,
        this.members,
        [...this.pending, change],
        this.misses,
        lastRequestedAt,
      ),
    };
  }

  /**
   * The schedule after slot `slot` (a child of this.slot on the chain, with the
   * requests it recorded already applied through withRequest): counts, for the
   * two UserBlockSlots the slot records, every scheduled proposer without a
   * UserBlockEntry as a miss (one with an entry resets to 0); a proposer reaching
   * proposerEvictionUserBlockSlots misses, and not already leaving, is scheduled
   * to leave at slot + membershipDelaySlots. Then applies the changes due by `slot`.
   */
  closeSlot(slot: number, recorded: Iterable<RecordedUserBlockRef>): ClosedSlot {
    if (!Number.isSafeInteger(slot) || slot <= this.slot)
      throw new RangeError(`closing slot ${slot} after slot ${this.slot}`);
    const { timing } = this.rules;
    const present = new Set<string>();
    for (const ref of recorded) present.add(`${toHex(ref.proposer)}/${ref.userBlockSlot}`);
    const leaving = new Set(this.pending.filter((c) => c.action === "leave").map((c) => toHex(c.proposer)));
    const misses = new Map(this.misses);
    const evictions: MembershipChange[] = [];
    for (const u of userBlockSlotsRecordedIn(slot)) {
      for (const proposer of this.activeAt(u)) {
        const id = toHex(proposer);
        if (leaving.has(id)) continue;
        if (present.has(`${id}/${u}`)) {
          misses.set(id, 0);
          continue;
        }
        const count = (misses.get(id) ?? 0) + 1;
        if (count < timing.proposerEvictionUserBlockSlots) {
          misses.set(id, count);
          continue;
        }
        misses.delete(id);
        leaving.add(id);
        evictions.push({
          proposer,
          action: "leave",
          cause: "eviction",
          recordedAtSlot: slot,
          effectiveSlot: slot + timing.membershipDelaySlots,
        });
      }
    }
    const pending = [...this.pending, ...evictions];
    const members = applyChanges(
      this.members,
      pending.filter((c) => c.effectiveSlot <= slot),
    );
    const memberIds = new Set(members.map(toHex));
    for (const id of misses.keys()) if (!memberIds.has(id)) misses.delete(id);
    // A request older than the freshness window is refused as stale before the
    // replay check, so older entries can go.
    const lastRequestedAt = new Map(
      [...this.lastRequestedAt].filter(([, at]) => at >= slot - timing.membershipRequestValiditySlots),
    );
    const schedule = new ProposerSchedule(
      this.rules,
      slot,
      members,
      pending.filter((c) => c.effectiveSlot > slot),
      misses,
      lastRequestedAt,
    );
    return { schedule, evictions };
  }
}

function applyChanges(members: readonly Uint8Array[], changes: readonly MembershipChange[]): Uint8Array[] {
  let result = [...members];
  for (const change of changes) {
    if (change.action === "join") result.push(change.proposer);
    else result = result.filter((p) => compareBytes(p, change.proposer) !== 0);
  }
  return result;
}
