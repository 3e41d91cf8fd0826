import { createTestnetGenesis, ProposerSchedule } from "@simd23/core";
import { ledger } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { membershipRequestFor } from "./membership.js";

const genesis = createTestnetGenesis({
  clusterName: "membership",
  clusterSeed: new Uint8Array(32).fill(5),
  validators: 1,
  proposerPool: 2,
  startTimeMs: 0n,
});
const me = genesis.proposerPool[0]!.identity;
const { JOIN, LEAVE } = {
  JOIN: ledger.MembershipAction.MEMBERSHIP_ACTION_JOIN,
  LEAVE: ledger.MembershipAction.MEMBERSHIP_ACTION_LEAVE,
};

describe("membershipRequestFor", () => {
  it("asks to join at the tip's slot until the join is recorded, then asks nothing", () => {
    const schedule = ProposerSchedule.genesis(genesis);
    const join = membershipRequestFor(schedule, me, "member", { tip: 7, wallClock: 8 });
    expect(join).toEqual({ proposer: me, action: JOIN, requestedAtSlot: 7 });
    const recorded = schedule.withRequest(8, join!);
    expect(recorded.ok).toBe(true);
    if (!recorded.ok) return;
    // Pending (not yet in effect) already counts: a resend would be NOT_A_CHANGE.
    expect(membershipRequestFor(recorded.schedule, me, "member", { tip: 8, wallClock: 9 })).toBeUndefined();
  });

  it("asks to leave with a slot after its last recorded request, which the schedule accepts", () => {
    const joined = ProposerSchedule.genesis(genesis).withRequest(8, {
      proposer: me,
      action: JOIN,
      requestedAtSlot: 8,
    });
    if (!joined.ok) throw new Error(joined.detail);
    // The tip has not moved past the join's slot: the leave must still be newer than it.
    const leave = membershipRequestFor(joined.schedule, me, "not-member", { tip: 8, wallClock: 8 });
    expect(leave).toEqual({ proposer: me, action: LEAVE, requestedAtSlot: 9 });
    const recorded = joined.schedule.withRequest(9, leave!);
    expect(recorded.ok).toBe(true);
    if (recorded.ok)
      expect(
        membershipRequestFor(recorded.schedule, me, "not-member", { tip: 9, wallClock: 10 }),
      ).toBeUndefined();
  });

  it("asks from the slot before the wall clock's when its view of the ledger lags, so the request is fresh", () => {
    const join = membershipRequestFor(ProposerSchedule.genesis(genesis), me, "member", {
      tip: 80,
      wallClock: 121,
    });
    expect(join?.requestedAtSlot).toBe(120);
    const recorded = ProposerSchedule.genesis(genesis).withRequest(121, join!);
    expect(recorded.ok).toBe(true);
  });
});
