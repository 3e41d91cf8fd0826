import type { ProposerSchedule } from "@simd23/core";
import { ledger } from "@simd23/proto";

export type MembershipWish = "member" | "not-member";

/**
 * The request that moves a proposer toward what it wants on one chain's
 * schedule, or undefined when the schedule (with its pending changes) already
 * says so: a recorded request needs no resend.
 *
 * `requestedAtSlot` must not be after the slot that records it (the tip is not,
 * and neither is the slot before the wall clock's while leaders keep time), must
 * be within the validity window of it (a tip that lags the live ledger would
 * not be: the wall clock's slot keeps it fresh), and must be newer than the
 * proposer's last recorded request.
 */
export function membershipRequestFor(
  schedule: ProposerSchedule,
  proposer: Uint8Array,
  wish: MembershipWish,
  slots: { readonly tip: number; readonly wallClock: number },
): ledger.MembershipRequest | undefined {
  const member = schedule.isMember(proposer);
  if ((wish === "member") === member) return undefined;
  const last = schedule.lastRequestedAtSlotOf(proposer);
  const requestedAtSlot = Math.max(slots.tip, slots.wallClock - 1, last === undefined ? 0 : last + 1);
  return {
    proposer,
    action:
      wish === "member"
        ? ledger.MembershipAction.MEMBERSHIP_ACTION_JOIN
        : ledger.MembershipAction.MEMBERSHIP_ACTION_LEAVE,
    requestedAtSlot,
  };
}
