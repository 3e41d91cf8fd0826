import { tx } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { genesisHash } from "../genesis.js";
import { createGenesisBank } from "./bank.js";
import { fixtureGenesis, pohHashOf, transfer, user, userBlock } from "./fixture.js";
import { BankForks, executeSlot } from "./forks.js";
import { encodeBankSnapshot } from "./snapshot.js";

const S = tx.ExecutionStatus;
const genesis = fixtureGenesis([1_000_000n, 1_000_000n]);
const [alice, bob, stranger] = [user(0), user(1), user(99)];
const genesisBlockhash = genesisHash(genesis);

describe("forks", () => {
  it("a child sees its parent's state and siblings do not see each other", () => {
    const forks = new BankForks(createGenesisBank(genesis));
    const one = forks.createChild(0, 1);
    one.executeUserBlockSlot(1, [
      userBlock(0, 0, [transfer(alice, stranger.publicKey, 100n, { blockhash: genesisBlockhash })]),
    ]);
    one.freeze(pohHashOf(1));
    const two = forks.createChild(1, 2);
    expect(two.balance(stranger.publicKey)).toBe(100n);
    const sibling = forks.createChild(0, 3);
    expect(sibling.balance(stranger.publicKey)).toBe(0n);
    sibling.executeUserBlockSlot(5, [
      userBlock(0, 0, [transfer(bob, stranger.publicKey, 7n, { blockhash: genesisBlockhash })]),
    ]);
    expect(two.balance(stranger.publicKey)).toBe(100n);
    expect(one.balance(stranger.publicKey)).toBe(100n);
    expect(forks.slots()).toEqual([0, 1, 2, 3]);
    expect(() => forks.createChild(0, 1)).toThrow(/already has a bank/);
    expect(() => forks.createChild(9, 10)).toThrow(/no bank for parent slot 9/);
  });

  it("rooting squashes ancestors, drops dead forks and keeps balances, duplicates and hashes", () => {
    const forks = new BankForks(createGenesisBank(genesis));
    const t = transfer(alice, stranger.publicKey, 100n, { blockhash: genesisBlockhash });
    const one = executeSlot(forks.root, {
      slot: 1,
      lastPohHash: pohHashOf(1),
      userBlockSlots: [{ userBlockSlot: 1, blocks: [userBlock(0, 0, [t])] }],
    });
    forks.insert(one.bank);
    const two = executeSlot(one.bank, { slot: 2, lastPohHash: pohHashOf(2), userBlockSlots: [] });
    forks.insert(two.bank);
    const dead = forks.createChild(0, 3);
    const deadChild = forks.createChild(1, 5);
    const three = forks.createChild(2, 4);
    const hashBefore = two.bank.bankHash;

    expect(forks.setRoot(2)).toEqual([0, 1, 3, 5]);
    expect(forks.root).toBe(two.bank);
    expect(forks.slots()).toEqual([2, 4]);
    expect(two.bank.parent).toBeNull();
    expect(two.bank.bankHash).toEqual(hashBefore);
    expect(two.bank.balance(stranger.publicKey)).toBe(100n);
    expect(three.balance(alice.publicKey)).toBe(1_000_000n - 100n - 5_000n);
    for (const gone of [dead, deadChild, one.bank]) {
      expect(gone.isDropped).toBe(true);
      expect(() => gone.balance(alice.publicKey)).toThrow(/dropped by rooting/);
    }
    const again = three.executeUserBlockSlot(7, [userBlock(0, 0, [t])]);
    expect(again.map((r) => r.status)).toEqual([S.EXECUTION_STATUS_DUPLICATE]);
    expect(forks.setRoot(2)).toEqual([]);
  });

  it("rooting prunes status cache entries whose blockhash expired for every descendant", () => {
    const forks = new BankForks(createGenesisBank(genesis));
    let parent = forks.root;
    const t = transfer(alice, stranger.publicKey, 1n, { blockhash: genesisBlockhash });
    for (let slot = 1; slot <= 4; slot++) {
      const { bank } = executeSlot(parent, {
        slot,
        lastPohHash: pohHashOf(slot),
        userBlockSlots: slot === 1 ? [{ userBlockSlot: 1, blocks: [userBlock(0, 0, [t])] }] : [],
      });
      forks.insert(bank);
      parent = bank;
    }
    forks.setRoot(3);
    // Slot 4 may still see genesis's blockhash (4 − 0 ≤ 4), so the id is kept.
    expect(forks.root.snapshotState().statusCache.map(([id]) => id)).toEqual([t.id]);
    forks.setRoot(4);
    // Slot 5 onward cannot: the id can never be looked up again.
    expect(forks.root.snapshotState().statusCache).toEqual([]);
    expect(encodeBankSnapshot(forks.root).length).toBeLessThan(4_000);
  });

  it("refuses to root an unfrozen bank and to insert a bank whose parent it does not hold", () => {
    const forks = new BankForks(createGenesisBank(genesis));
    forks.createChild(0, 1);
    expect(() => forks.setRoot(1)).toThrow(/not frozen/);
    expect(() => forks.setRoot(7)).toThrow(/no bank for slot 7/);
    const outside = createGenesisBank(genesis).newChild(1);
    expect(() => forks.insert(outside)).toThrow(/not in BankForks/);
    expect(() => new BankForks(outside)).toThrow(/frozen root/);
  });
});
