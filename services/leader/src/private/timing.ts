import { bytesEqual, type Timing } from "@simd23/core";

/** What the leader needs of the leader schedule (the core's LeaderScheduleCache). */
export interface LeaderLookup {
  leaderOf(slot: number): Uint8Array;
}

/**
 * The first slot at or after `from` that `identity` leads, looking at most
 * `horizonSlots` slots ahead; undefined when it leads none of them. Slot 0 is
 * genesis and has no leader. Leaders hold whole windows, so only each window's
 * first slot is looked up.
 */
export function nextLeaderSlot(
  leaders: LeaderLookup,
  identity: Uint8Array,
  from: number,
  timing: Pick<Timing, "slotsPerLeaderWindow">,
  horizonSlots: number,
): number | undefined {
  const window = timing.slotsPerLeaderWindow;
  const first = Math.max(1, from);
  const last = first + horizonSlots;
  for (let slot = first; slot < last; slot = (Math.floor(slot / window) + 1) * window) {
    const windowStart = Math.max(1, Math.floor(slot / window) * window);
    if (bytesEqual(leaders.leaderOf(windowStart), identity)) return slot;
  }
  return undefined;
}

/**
 * When the tick that brings the tick height to `height` is due: tick height h
 * is reached h tick durations after genesis began (slot s starts at tick height
 * s · ticksPerSlot, at slotStartMs(s)). Computed from the slot duration so a
 * fractional tick duration (400 ms / 64) adds no rounding per tick.
 */
export function tickDueMs(timing: Timing, height: number): number {
  return Number(timing.startTimeMs) + (height * timing.slotDurationMs) / timing.ticksPerSlot;
}

/** The tick height a PoH running on schedule has at `nowMs` (at least slot 0's, which genesis completes). */
export function scheduledTickHeight(timing: Timing, nowMs: number): number {
  const elapsed = nowMs - Number(timing.startTimeMs);
  return Math.max(timing.ticksPerSlot, Math.floor((elapsed * timing.ticksPerSlot) / timing.slotDurationMs));
}

/** The slot that records UserBlockSlot u (slot s records 2s − 1 and 2s); u = 0 falls in genesis and is never recorded. */
export function recordingSlotOf(userBlockSlot: number): number | undefined {
  return userBlockSlot >= 1 ? Math.ceil(userBlockSlot / 2) : undefined;
}

export interface ParentSituation {
  /** The slot about to be built. */
  readonly slot: number;
  /** The newest slot before `slot` whose chain state the leader has (0 is genesis). */
  readonly newestKnown: number;
  /** This replica was scheduled for slot − 1 (and did not produce it, or it would be newestKnown). */
  readonly previousIsOwn: boolean;
  /** Messages of slot − 1 arrived: its leader is (or was) producing it. */
  readonly previousActive: boolean;
  /** Slot − 1 arrived complete and broke a rule. */
  readonly previousDead: boolean;
  readonly nowMs: number;
  /** Until when the leader waits for slot − 1 (its slot's start plus the configured wait). */
  readonly waitUntilMs: number;
}

export type ParentReason =
  | "previous-slot"
  | "previous-own"
  | "previous-dead"
  | "previous-silent"
  | "previous-timed-out";

export type ParentDecision =
  | { readonly action: "build"; readonly parentSlot: number; readonly reason: ParentReason }
  | { readonly action: "wait"; readonly untilMs: number };

/**
 * Which slot to build on, at the start of one's own slot. The newest slot the
 * leader knows, when it is the previous slot. Otherwise the previous leader may
 * still be finishing: the previous slot ends exactly when this one begins, and
 * its last messages take a moment to arrive and replay. The leader waits for it
 * while that can help — the previous slot had messages, is not dead, and the
 * wait has not run out — and then builds on the newest slot it has; the slots
 * in between are skipped (their ticks open the new slot).
 */
export function decideParent(situation: ParentSituation): ParentDecision {
  const build = (reason: ParentReason): ParentDecision => ({
    action: "build",
    parentSlot: situation.newestKnown,
    reason,
  });
  if (situation.newestKnown === situation.slot - 1) return build("previous-slot");
  if (situation.previousIsOwn) return build("previous-own");
  if (situation.previousDead) return build("previous-dead");
  if (!situation.previousActive) return build("previous-silent");
  if (situation.nowMs >= situation.waitUntilMs) return build("previous-timed-out");
  return { action: "wait", untilMs: situation.waitUntilMs };
}
