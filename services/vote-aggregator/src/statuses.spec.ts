import { advanceStatus, ConfirmationLevel, dropStatus, UNSEEN_STATUS } from "@simd23/core";
import type { control } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { isTerminal, mergeStatus, StatusBook, type StatusUpdate } from "./statuses.js";

const L = ConfirmationLevel;
const signature = (n: number) => new Uint8Array(64).fill(n);
const result: control.TransactionResult = {
  signature: signature(1),
  status: 1,
  fee: 5_000n,
  slot: 3,
  userBlockSlot: 6,
  proposer: new Uint8Array(32).fill(7),
};
const levels = (s: { levels: readonly { level: number; timeMs: bigint }[] }) =>
  s.levels.map((l) => [l.level, Number(l.timeMs)]);

describe("mergeStatus", () => {
  it("keeps the target's levels and adds only what the source knows beyond them", () => {
    const index = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_RECEIVED, 100).status;
    let replica = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_PROPOSED, 150).status;
    replica = advanceStatus(replica, L.CONFIRMATION_LEVEL_EXECUTED, 900, result).status;
    const merged = mergeStatus(index, replica);
    expect(levels(merged.status)).toEqual([
      [1, 100],
      [2, 150],
      [3, 900],
      [4, 900],
      [5, 900],
    ]);
    expect(merged.reached.map((l) => l.level)).toEqual([2, 3, 4, 5]);
    expect(merged.status.result).toEqual(result);
    expect(merged.resultAttached).toBe(true);
    expect(mergeStatus(merged.status, replica).reached).toEqual([]);
  });

  it("carries a drop, which then holds, and attaches a result that came after its level", () => {
    const dropped = dropStatus(
      advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_RECEIVED, 100).status,
      "blockhash expired",
      400,
    ).status;
    const merged = mergeStatus(UNSEEN_STATUS, dropped);
    expect(merged.status.droppedReason).toBe("blockhash expired");
    expect(isTerminal(merged.status)).toBe(true);
    const recorded = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_RECORDED, 500).status;
    expect(mergeStatus(merged.status, recorded).reached).toEqual([]);

    const executedWithout = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_EXECUTED, 700).status;
    const executedWith = advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_EXECUTED, 800, result).status;
    const attached = mergeStatus(executedWithout, executedWith);
    expect(attached.reached).toEqual([]);
    expect(attached.resultAttached).toBe(true);
    expect(attached.status.result).toEqual(result);
  });
});

describe("StatusBook", () => {
  it("reports each change once, in order, and forgets the least recently changed beyond its capacity", () => {
    const book = new StatusBook(2);
    const updates: StatusUpdate[] = [];
    book.onUpdate((update) => updates.push(update));
    book.advance(signature(1), L.CONFIRMATION_LEVEL_RECORDED, 100);
    book.advance(signature(1), L.CONFIRMATION_LEVEL_PROPOSED, 200);
    book.advance(signature(2), L.CONFIRMATION_LEVEL_PROPOSED, 150);
    book.advance(signature(1), L.CONFIRMATION_LEVEL_OPTIMISTIC, 300);
    expect(updates.map((u) => [u.signature[0], u.change.reached.map((l) => l.level)])).toEqual([
      [1, [1, 2, 3]],
      [2, [1, 2]],
      [1, [4]],
    ]);
    book.advance(signature(3), L.CONFIRMATION_LEVEL_PROPOSED, 400);
    expect(book.size).toBe(2);
    expect(book.get(signature(2))).toBe(UNSEEN_STATUS);
    expect(levels(book.get(signature(1)))).toEqual([
      [1, 100],
      [2, 100],
      [3, 100],
      [4, 300],
    ]);
    expect(() => new StatusBook(0)).toThrow(RangeError);
  });
});
