import { ledger } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { compareBytes, toHex } from "../bytes.js";
import { fixtureGenesis, JOIN, LEAVE, proposerKey } from "../ledger/fixture.js";
import { ProposerSchedule, type RecordedUserBlockRef, userBlockSlotsRecordedIn } from "./proposer.js";

// Fixture timing: membershipDelaySlots 2, maxProposersPerUserBlockSlot 3,
// proposerEvictionUserBlockSlots 4, membershipRequestValiditySlots 4, a pool of 5.
const genesis = fixtureGenesis();
const key = (i: number) => proposerKey(i).publicKey;
const request = (
  i: number,
  action: ledger.MembershipAction,
  requestedAtSlot: number,
): ledger.MembershipRequest => ({
  proposer: key(i),
  action,
  requestedAtSlot,
});
const ids = (keys: readonly Uint8Array[]) => keys.map(toHex);

function record(
  schedule: ProposerSchedule,
  slot: number,
  ...requests: ledger.MembershipRequest[]
): ProposerSchedule {
  let next = schedule;
  for (const r of requests) {
    const decision = next.withRequest(slot, r);
    if (!decision.ok) throw new Error(`${decision.reason}: ${decision.detail}`);
    next = decision.schedule;
  }
  return next;
}

/** Closes slots from..to (inclusive), each recording a UserBlockEntry for every active proposer but `absent`. */
function produce(
  schedule: ProposerSchedule,
  from: number,
  to: number,
  absent: readonly number[] = [],
): ProposerSchedule {
  let next = schedule;
  for (let slot = from; slot <= to; slot++) {
    const recorded: RecordedUserBlockRef[] = [];
    for (const u of userBlockSlotsRecordedIn(slot))
      for (const proposer of next.activeAt(u))
        if (!absent.some((i) => compareBytes(key(i), proposer) === 0))
          recorded.push({ proposer, userBlockSlot: u });
    next = next.closeSlot(slot, recorded).schedule;
  }
  return next;
}

describe("proposer schedule", () => {
  it("starts empty at genesis: proposers join by request", () => {
    const schedule = ProposerSchedule.genesis(genesis);
    expect(schedule.slot).toBe(0);
    expect(schedule.members).toEqual([]);
    expect(schedule.activeAt(1)).toEqual([]);
  });

  it("names the two UserBlockSlots a slot records", () => {
    expect(userBlockSlotsRecordedIn(1)).toEqual([1, 2]);
    expect(userBlockSlotsRecordedIn(7)).toEqual([13, 14]);
    expect(() => userBlockSlotsRecordedIn(0)).toThrow(RangeError);
  });

  it("applies a join membershipDelaySlots after the slot that recorded it, on every node alike", () => {
    const joined = record(ProposerSchedule.genesis(genesis), 1, request(0, JOIN, 1));
    expect(joined.pending).toEqual([
      { proposer: key(0), action: "join", cause: "request", recordedAtSlot: 1, effectiveSlot: 3 },
    ]);
    // Known in advance from the pending change, before slot 3 is produced.
    expect(joined.activeAt(5)).toEqual([]);
    expect(ids(joined.activeAt(6))).toEqual([toHex(key(0))]);
    const after = produce(joined, 1, 3);
    expect(after.slot).toBe(3);
    expect(ids(after.members)).toEqual([toHex(key(0))]);
    expect(after.pending).toEqual([]);
    expect(after.isScheduled(key(0), 6)).toBe(true);
  });

  it("applies a leave after the same delay", () => {
    const member = produce(record(ProposerSchedule.genesis(genesis), 1, request(0, JOIN, 1)), 1, 3);
    const leaving = record(member, 4, request(0, LEAVE, 4));
    expect(leaving.isMember(key(0))).toBe(false);
    expect(leaving.isScheduled(key(0), 11)).toBe(true);
    expect(leaving.isScheduled(key(0), 12)).toBe(false);
    expect(produce(leaving, 4, 6).members).toEqual([]);
  });

  it("records a request only while fresh: requestedAtSlot ≤ slot ≤ requestedAtSlot + validity", () => {
    const schedule = produce(ProposerSchedule.genesis(genesis), 1, 9);
    const at = (requestedAtSlot: number) => schedule.withRequest(10, request(1, JOIN, requestedAtSlot));
    expect(at(10).ok).toBe(true);
    expect(at(6).ok).toBe(true);
    expect(at(5)).toMatchObject({ ok: false, reason: "STALE" });
    expect(at(11)).toMatchObject({ ok: false, reason: "FROM_FUTURE" });
  });

  it("refuses a replayed request: requestedAtSlot must pass the proposer's last recorded one", () => {
    const joined = record(produce(ProposerSchedule.genesis(genesis), 1, 9), 10, request(1, JOIN, 9));
    expect(joined.lastRequestedAtSlotOf(key(1))).toBe(9);
    expect(joined.withRequest(11, request(1, LEAVE, 9))).toMatchObject({ ok: false, reason: "REPLAYED" });
    const left = record(joined, 11, request(1, LEAVE, 11));
    // The original join, still fresh, cannot be replayed to undo the leave.
    expect(left.withRequest(12, request(1, JOIN, 9))).toMatchObject({ ok: false, reason: "REPLAYED" });
  });

  it("records only changes by pool proposers with a known action", () => {
    const schedule = ProposerSchedule.genesis(genesis);
    const stranger = { proposer: new Uint8Array(32).fill(1), action: JOIN, requestedAtSlot: 1 };
    expect(schedule.withRequest(1, stranger)).toMatchObject({ ok: false, reason: "NOT_IN_POOL" });
    const unspecified = request(0, ledger.MembershipAction.MEMBERSHIP_ACTION_UNSPECIFIED, 1);
    expect(schedule.withRequest(1, unspecified)).toMatchObject({ ok: false, reason: "BAD_ACTION" });
    expect(schedule.withRequest(1, request(0, LEAVE, 1))).toMatchObject({
      ok: false,
      reason: "NOT_A_CHANGE",
    });
    const joined = record(schedule, 1, request(0, JOIN, 0));
    // A pending join already makes it a member: a second join changes nothing.
    expect(joined.withRequest(1, request(0, JOIN, 1))).toMatchObject({ ok: false, reason: "NOT_A_CHANGE" });
  });

  it("is an immutable value: updates leave the original as it was", () => {
    const original = ProposerSchedule.genesis(genesis);
    const joined = record(original, 1, request(0, JOIN, 1));
    joined.closeSlot(1, []);
    expect(original.pending).toEqual([]);
    expect(original.lastRequestedAtSlotOf(key(0))).toBeUndefined();
    expect(joined.slot).toBe(0);
    expect(() => joined.withRequest(0, request(1, JOIN, 0))).toThrow(RangeError);
    expect(() => produce(joined, 1, 1).membersAt(0)).toThrow(RangeError);
  });

  it("caps the active set by seniority and orders it by identity", () => {
    const joinOrder = [4, 3, 2, 1, 0];
    const all = produce(
      record(ProposerSchedule.genesis(genesis), 1, ...joinOrder.map((i) => request(i, JOIN, 1))),
      1,
      3,
    );
    expect(ids(all.members)).toEqual(joinOrder.map((i) => toHex(key(i))));
    const expected = [4, 3, 2].map(key).sort(compareBytes);
    expect(all.activeAt(6)).toEqual(expected);
    // When a senior member leaves, the next in join order moves up.
    const leaving = record(all, 4, request(3, LEAVE, 4));
    expect(leaving.activeAt(12)).toEqual([4, 2, 1].map(key).sort(compareBytes));
  });

  it("evicts a scheduled proposer after proposerEvictionUserBlockSlots recorded misses, with the same delay", () => {
    const joined = produce(
      record(ProposerSchedule.genesis(genesis), 1, request(0, JOIN, 1), request(1, JOIN, 1)),
      1,
      2,
    );
    // Active from slot 3 (u = 6). Slot 3 records u = 5 (not yet scheduled) and 6: one miss.
    let schedule = joined.closeSlot(3, [{ proposer: key(1), userBlockSlot: 6 }]).schedule;
    expect(schedule.missesOf(key(0))).toBe(1);
    expect(schedule.missesOf(key(1))).toBe(0);
    schedule = schedule.closeSlot(4, []).schedule;
    expect(schedule.missesOf(key(0))).toBe(3);
    expect(schedule.missesOf(key(1))).toBe(2);
    const closed = schedule.closeSlot(5, [{ proposer: key(1), userBlockSlot: 10 }]);
    expect(closed.evictions).toEqual([
      { proposer: key(0), action: "leave", cause: "eviction", recordedAtSlot: 5, effectiveSlot: 7 },
    ]);
    schedule = closed.schedule;
    expect(schedule.missesOf(key(1))).toBe(0);
    expect(schedule.isScheduled(key(0), 13)).toBe(true);
    expect(schedule.isScheduled(key(0), 14)).toBe(false);
    // While it is leaving, its misses are not counted again.
    expect(schedule.closeSlot(6, []).evictions.map((c) => toHex(c.proposer))).toEqual([]);
  });

  it("resets the count on a recorded UserBlockEntry: only consecutive misses evict", () => {
    let schedule = produce(record(ProposerSchedule.genesis(genesis), 1, request(0, JOIN, 1)), 1, 2);
    for (let slot = 3; slot <= 20; slot++) {
      const [first] = userBlockSlotsRecordedIn(slot);
      const closed = schedule.closeSlot(slot, [{ proposer: key(0), userBlockSlot: first }]);
      expect(closed.evictions).toEqual([]);
      schedule = closed.schedule;
      expect(schedule.missesOf(key(0))).toBe(1);
    }
  });

  it("does not count the UserBlockSlots of skipped slots", () => {
    const joined = produce(record(ProposerSchedule.genesis(genesis), 1, request(0, JOIN, 1)), 1, 3, [0]);
    expect(joined.missesOf(key(0))).toBe(1);
    // Slot 10 on parent 3: slots 4..9 were skipped; only u = 19 and 20 count.
    const closed = joined.closeSlot(10, []);
    expect(closed.evictions).toEqual([]);
    expect(closed.schedule.missesOf(key(0))).toBe(3);
    // Producing every slot instead evicts it.
    expect(joined.closeSlot(4, []).schedule.closeSlot(5, []).evictions).toHaveLength(1);
  });

  it("lets an evicted proposer join again by request", () => {
    const joined = produce(record(ProposerSchedule.genesis(genesis), 1, request(0, JOIN, 1)), 1, 2);
    const evicted = produce(joined, 3, 7, [0]);
    expect(evicted.members).toEqual([]);
    const back = produce(record(evicted, 8, request(0, JOIN, 8)), 8, 10);
    expect(back.isScheduled(key(0), 20)).toBe(true);
  });
});
