import { type control, voteaggregator } from "@simd23/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  advanceStatus,
  ConfirmationLevel,
  type ConfirmationStatus,
  currentLevel,
  dropStatus,
  fromSignatureStatus,
  PROGRESS_LEVELS,
  timeOfLevel,
  toSignatureStatus,
  UNSEEN_STATUS,
} from "./confirmation.js";

const L = ConfirmationLevel;
const result: control.TransactionResult = {
  signature: new Uint8Array(64).fill(2),
  status: 1,
  fee: 5_000n,
  slot: 12,
  userBlockSlot: 23,
  proposer: new Uint8Array(32).fill(3),
};
const levelsOf = (status: ConfirmationStatus) => status.levels.map((l) => [l.level, Number(l.timeMs)]);

describe("confirmation levels", () => {
  it("climb in order, each with its time, and report what is newly reached", () => {
    let change = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_RECEIVED, 100);
    expect(change.reached).toEqual([{ level: L.CONFIRMATION_LEVEL_RECEIVED, timeMs: 100n }]);
    change = advanceStatus(change.status, L.CONFIRMATION_LEVEL_PROPOSED, 180);
    change = advanceStatus(change.status, L.CONFIRMATION_LEVEL_RECORDED, 420);
    change = advanceStatus(change.status, L.CONFIRMATION_LEVEL_OPTIMISTIC, 900);
    change = advanceStatus(change.status, L.CONFIRMATION_LEVEL_EXECUTED, 1_500, result);
    expect(change.resultAttached).toBe(true);
    change = advanceStatus(change.status, L.CONFIRMATION_LEVEL_FINALIZED, 13_000);
    expect(levelsOf(change.status)).toEqual([
      [1, 100],
      [2, 180],
      [3, 420],
      [4, 900],
      [5, 1_500],
      [6, 13_000],
    ]);
    expect(change.status.result).toEqual(result);
    expect(timeOfLevel(change.status, L.CONFIRMATION_LEVEL_RECORDED)).toBe(420);
  });

  it("imply every earlier level, reached at the same time", () => {
    const received = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_RECEIVED, 100).status;
    const change = advanceStatus(received, L.CONFIRMATION_LEVEL_OPTIMISTIC, 700);
    expect(change.reached.map((l) => [l.level, Number(l.timeMs)])).toEqual([
      [2, 700],
      [3, 700],
      [4, 700],
    ]);
    expect(currentLevel(change.status)).toBe(L.CONFIRMATION_LEVEL_OPTIMISTIC);
  });

  it("never go backwards, and a late event never stamps a level earlier than the one before", () => {
    const optimistic = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_OPTIMISTIC, 700).status;
    const older = advanceStatus(optimistic, L.CONFIRMATION_LEVEL_PROPOSED, 800);
    expect(older.status).toBe(optimistic);
    expect(older.reached).toEqual([]);
    const stamped = advanceStatus(optimistic, L.CONFIRMATION_LEVEL_EXECUTED, 650, result);
    expect(stamped.reached).toEqual([{ level: L.CONFIRMATION_LEVEL_EXECUTED, timeMs: 700n }]);
  });

  it("attach the result once, with EXECUTED or FINALIZED, even after the level was reached", () => {
    const executed = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_EXECUTED, 10).status;
    expect(executed.result).toBeNull();
    const attached = advanceStatus(executed, L.CONFIRMATION_LEVEL_EXECUTED, 11, result);
    expect(attached).toMatchObject({ reached: [], resultAttached: true });
    const other = { ...result, fee: 1n };
    const kept = advanceStatus(attached.status, L.CONFIRMATION_LEVEL_FINALIZED, 12, other);
    expect(kept.status.result).toEqual(result);
    expect(kept.resultAttached).toBe(false);
    expect(() => advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_RECORDED, 1, result)).toThrow(RangeError);
    expect(() => advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_DROPPED, 1)).toThrow(RangeError);
    expect(() => advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_UNSPECIFIED, 1)).toThrow(RangeError);
  });

  it("end at DROPPED with a reason, which nothing changes afterwards; an executed transaction is not dropped", () => {
    const proposed = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_PROPOSED, 5).status;
    const dropped = dropStatus(proposed, "UserBlock arrived after the grace ticks", 9);
    expect(dropped.reached).toEqual([{ level: L.CONFIRMATION_LEVEL_DROPPED, timeMs: 9n }]);
    expect(dropped.status.droppedReason).toBe("UserBlock arrived after the grace ticks");
    expect(advanceStatus(dropped.status, L.CONFIRMATION_LEVEL_FINALIZED, 20, result).status).toBe(
      dropped.status,
    );
    expect(dropStatus(dropped.status, "again", 30).status).toBe(dropped.status);
    const executed = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_EXECUTED, 5, result).status;
    expect(dropStatus(executed, "late", 6).reached).toEqual([]);
    expect(() => dropStatus(proposed, "", 1)).toThrow(RangeError);
  });

  it("round-trip through the wire form", () => {
    const signature = new Uint8Array(64).fill(9);
    const status = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_EXECUTED, 5, result).status;
    const wire = toSignatureStatus(signature, status);
    expect(wire).toMatchObject({ signature, found: true, droppedReason: "" });
    const bytes = voteaggregator.SignatureStatus.encode(wire).finish();
    expect(fromSignatureStatus(voteaggregator.SignatureStatus.decode(bytes))).toEqual(status);
    const dropped = dropStatus(UNSEEN_STATUS, "equivocating proposer", 1).status;
    expect(fromSignatureStatus(toSignatureStatus(signature, dropped))).toEqual(dropped);
    expect(toSignatureStatus(signature, UNSEEN_STATUS).found).toBe(false);
  });
});

describe("confirmation level properties", () => {
  const event = fc.oneof(
    fc.record({
      level: fc.constantFrom(...PROGRESS_LEVELS),
      timeMs: fc.nat({ max: 1_000_000 }),
      withResult: fc.boolean(),
    }),
    fc.record({ drop: fc.constant(true), timeMs: fc.nat({ max: 1_000_000 }) }),
  );

  it("never go backwards under any order of events", () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), (events) => {
        let status = UNSEEN_STATUS;
        for (const e of events) {
          const before = status;
          const change =
            "drop" in e
              ? dropStatus(status, "reason", e.timeMs)
              : advanceStatus(
                  status,
                  e.level,
                  e.timeMs,
                  e.withResult && e.level >= L.CONFIRMATION_LEVEL_EXECUTED ? result : undefined,
                );
          status = change.status;
          // The old levels are a prefix of the new ones: nothing is lost or rewritten.
          expect(status.levels.slice(0, before.levels.length)).toEqual(before.levels);
          expect(status.levels.slice(before.levels.length)).toEqual(change.reached);
          if (before.droppedReason !== null) expect(status).toBe(before);
          if (before.result !== null) expect(status.result).toBe(before.result);
          const everReached = status.levels.map((l) => l.level);
          // Strictly increasing levels from RECEIVED without gaps, DROPPED only last; times never decrease.
          const progress = everReached.filter((l) => l !== L.CONFIRMATION_LEVEL_DROPPED);
          expect(progress).toEqual(PROGRESS_LEVELS.slice(0, progress.length));
          expect(everReached.indexOf(L.CONFIRMATION_LEVEL_DROPPED)).toBeOneOf([-1, everReached.length - 1]);
          for (let i = 1; i < status.levels.length; i++)
            expect(status.levels[i]!.timeMs >= status.levels[i - 1]!.timeMs).toBe(true);
        }
      }),
    );
  });
});
