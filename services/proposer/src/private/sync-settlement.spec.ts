import type { tx } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { itemKey, type SyncChainSlot, SyncSettlement } from "./sync-settlement.js";

const A = new Uint8Array(32).fill(1);
const B = new Uint8Array(32).fill(2);
const id = (n: number) => new Uint8Array(64).fill(n);
const hex = (n: number) => Buffer.from(id(n)).toString("hex");
const transaction = (n: number): tx.Transaction => ({ message: new Uint8Array(0), signatures: [id(n)] });
const item = (n: number): tx.TransactionItem => ({ item: { $case: "transaction", value: transaction(n) } });

/** A chain slot whose one TransactionEntry holds items with the given ids. */
function slot(number: number, leader: Uint8Array, ids: number[]): SyncChainSlot {
  return { slot: number, leader, transactionEntries: [{ entryIndex: 0, items: ids.map(item) }] };
}

describe("SyncSettlement", () => {
  it("settles what a slot depth slots deep holds; what a shallower slot holds is recorded", () => {
    const settlement = new SyncSettlement(2);
    const chain = [slot(3, A, [3]), slot(2, A, [2]), slot(1, A, [1])];
    const first = settlement.update(chain);
    expect([...first.settled]).toEqual([[hex(1), 1]]);
    expect([...first.recorded].sort()).toEqual([hex(2), hex(3)].sort());
    expect(settlement.settledIn(hex(1))).toBe(1);
    // A slot settled before is not walked again: only what the new tip settles is reported.
    const second = settlement.update([slot(4, A, []), ...chain]);
    expect([...second.settled]).toEqual([[hex(2), 2]]);
    expect([...second.recorded]).toEqual([hex(3)]);
  });

  it("settles at once what another leader built on, and a fork's slots hold nothing on this chain", () => {
    const settlement = new SyncSettlement(8);
    const update = settlement.update([slot(5, B, [5]), slot(4, A, [4]), slot(3, A, [3])]);
    expect([...update.settled.keys()].sort()).toEqual([hex(3), hex(4)].sort());
    expect([...update.recorded]).toEqual([hex(5)]);
    // Slot 6 forks from 4: slot 5's item is no longer recorded on the tip's chain.
    const fork = settlement.update([slot(6, A, []), slot(4, A, [4]), slot(3, A, [3])]);
    expect([...fork.recorded]).toEqual([]);
    expect(fork.settled.size).toBe(0);
  });

  it("forgets settled keys below a slot", () => {
    const settlement = new SyncSettlement(0);
    settlement.update([slot(2, A, [2]), slot(1, A, [1])]);
    settlement.forgetBelow(2);
    expect(settlement.settledIn(hex(1))).toBeUndefined();
    expect(settlement.settledIn(hex(2))).toBe(2);
  });
});

describe("itemKey", () => {
  it("is the hex id of the item's first transaction", () => {
    expect(itemKey(item(7))).toBe(hex(7));
    expect(
      itemKey({ item: { $case: "bundle", value: { transactions: [transaction(8), transaction(9)] } } }),
    ).toBe(hex(8));
    expect(itemKey({ item: undefined })).toBeUndefined();
  });
});
