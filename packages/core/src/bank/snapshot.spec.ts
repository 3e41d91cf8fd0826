import { tx } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { concatBytes } from "../bytes.js";
import { genesisHash } from "../genesis.js";
import { sha256 } from "../hash.js";
import { type Bank, createGenesisBank } from "./bank.js";
import { fixtureGenesis, pohHashOf, transfer, user, userBlock } from "./fixture.js";
import { BankForks, executeSlot } from "./forks.js";
import { decodeBankSnapshot, encodeBankSnapshot, SnapshotError } from "./snapshot.js";

const S = tx.ExecutionStatus;
const genesis = fixtureGenesis([1_000_000n, 1_000_000n]);
const [alice, bob, stranger] = [user(0), user(1), user(99)];
const sent = transfer(alice, stranger.publicKey, 300n, { blockhash: genesisHash(genesis) });

/** A root at slot 2 that executed `sent` in slot 1. */
function rootAtTwo(): Bank {
  const forks = new BankForks(createGenesisBank(genesis));
  const one = executeSlot(forks.root, {
    slot: 1,
    lastPohHash: pohHashOf(1),
    userBlockSlots: [{ userBlockSlot: 2, blocks: [userBlock(0, 0, [sent])] }],
  });
  forks.insert(one.bank);
  forks.insert(executeSlot(one.bank, { slot: 2, lastPohHash: pohHashOf(2), userBlockSlots: [] }).bank);
  forks.setRoot(2);
  return forks.root;
}

/** Replaces the checksum so a tampered body passes the checksum and reaches the deeper checks. */
function reseal(body: Uint8Array): Uint8Array {
  return concatBytes(body, sha256(body));
}

describe("bank snapshots", () => {
  it("round-trip a root: same BankHash, balances, blockhashes, status cache and bytes", () => {
    const root = rootAtTwo();
    const bytes = encodeBankSnapshot(root);
    const restored = decodeBankSnapshot(bytes, genesis);
    expect(restored.slot).toBe(2);
    expect(restored.parentSlot).toBe(1);
    expect(restored.bankHash).toEqual(root.bankHash);
    expect(restored.accountsHash).toEqual(root.accountsHash);
    expect(restored.latticeBytes()).toEqual(root.latticeBytes());
    expect(restored.balance(stranger.publicKey)).toBe(300n);
    expect(restored.lastUserBlockSlot).toBe(2);
    expect(encodeBankSnapshot(restored)).toEqual(bytes);

    const next = restored.newChild(3);
    expect(next.isBlockhashValid(pohHashOf(1))).toBe(true);
    const results = next.executeUserBlockSlot(5, [
      userBlock(0, 0, [sent, transfer(bob, stranger.publicKey, 1n, { blockhash: pohHashOf(2) })]),
    ]);
    expect(results.map((r) => r.status)).toEqual([S.EXECUTION_STATUS_DUPLICATE, S.EXECUTION_STATUS_OK]);
  });

  it("the genesis bank round-trips too", () => {
    const bank = createGenesisBank(genesis);
    const restored = decodeBankSnapshot(encodeBankSnapshot(bank), genesis);
    expect(restored.bankHash).toEqual(bank.bankHash);
    expect(restored.parentSlot).toBeNull();
  });

  it("only a frozen root can be snapshotted", () => {
    const bank = createGenesisBank(genesis).newChild(1);
    expect(() => encodeBankSnapshot(bank)).toThrow(/not frozen/);
    bank.freeze(pohHashOf(1));
    expect(() => encodeBankSnapshot(bank)).toThrow(/not the root/);
  });

  it("rejects corrupt, truncated, foreign and inconsistent snapshots with a SnapshotError", () => {
    const bytes = encodeBankSnapshot(rootAtTwo());
    const body = bytes.subarray(0, bytes.length - 32);
    const flipped = Uint8Array.from(bytes);
    flipped[100]! ^= 1;
    expect(() => decodeBankSnapshot(flipped, genesis)).toThrow(/checksum does not match/);
    expect(() => decodeBankSnapshot(bytes.subarray(0, 40), genesis)).toThrow(SnapshotError);
    expect(() => decodeBankSnapshot(new Uint8Array(3), genesis)).toThrow(/truncated/);
    expect(() => decodeBankSnapshot(reseal(body.subarray(0, body.length - 1)), genesis)).toThrow(/truncated/);
    expect(() => decodeBankSnapshot(reseal(concatBytes(body, Uint8Array.of(0))), genesis)).toThrow(
      /trailing/,
    );
    const magic = Uint8Array.from(body);
    magic[0] = 0;
    expect(() => decodeBankSnapshot(reseal(magic), genesis)).toThrow(/not a simd23 v1 bank snapshot/);

    const other = fixtureGenesis([1n]);
    expect(() => decodeBankSnapshot(bytes, other)).toThrow(/another genesis/);

    // Header: magic 18, genesis 32, slot 4, parent 4, parentBankHash 32, bankHash 32, lastPohHash 32,
    // signatureCount 8, lastUserBlockSlot 4, then the lattice.
    const latticeAt = 18 + 32 + 4 + 4 + 32 + 32 + 32 + 8 + 4;
    const lattice = Uint8Array.from(body);
    lattice[latticeAt]! ^= 1;
    expect(() => decodeBankSnapshot(reseal(lattice), genesis)).toThrow(
      /lattice is not the lattice of its accounts/,
    );
    const bankHash = Uint8Array.from(body);
    bankHash[18 + 32 + 4 + 4 + 32]! ^= 1;
    expect(() => decodeBankSnapshot(reseal(bankHash), genesis)).toThrow(/BankHash does not match/);
    const count = Uint8Array.from(body);
    count.set(Uint8Array.of(0xff, 0xff, 0xff, 0x7f), latticeAt + 2048);
    expect(() => decodeBankSnapshot(reseal(count), genesis)).toThrow(/truncated/);
  });

  it("restores a faulty bank only under the same fault option", () => {
    const faulty = createGenesisBank(genesis, { faultyBankHashFromSlot: 0 });
    const bytes = encodeBankSnapshot(faulty);
    expect(decodeBankSnapshot(bytes, genesis, { faultyBankHashFromSlot: 0 }).bankHash).toEqual(
      faulty.bankHash,
    );
    expect(() => decodeBankSnapshot(bytes, genesis)).toThrow(/BankHash does not match/);
  });
});
