import { type control, tx } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { u64le, utf8 } from "../bytes.js";
import { genesisHash } from "../genesis.js";
import { sha256 } from "../hash.js";
import {
  buildTransaction,
  burnComputeInstruction,
  memoInstruction,
  transferInstruction,
} from "../tx/transaction.js";
import { type Bank, BankError, createGenesisBank } from "./bank.js";
import { bankHashCommitment, computeBankHash, perturbedBankHash } from "./bank-hash.js";
import { fixtureGenesis, pohHashOf, transfer, user, userBlock } from "./fixture.js";
import { latticeOfAccounts } from "./lattice.js";

const S = tx.ExecutionStatus;
const FEE = 5_000n;
const genesis = fixtureGenesis([1_000_000n, 1_000_000n, 10_000n, 4_000n]);
const [alice, bob, carol, dave] = [user(0), user(1), user(2), user(3)];
const stranger = user(99);
const genesisBlockhash = genesisHash(genesis);

const statusOf = (results: control.TransactionResult[]) => results.map((r) => r.status);
const feesOf = (results: control.TransactionResult[]) => results.map((r) => r.fee);

/** Bank of slot 1 on genesis. */
function slotOne(): Bank {
  return createGenesisBank(genesis).newChild(1);
}

describe("the genesis bank", () => {
  it("holds the genesis accounts and hashes them with a zero parent and genesisHash as its last PoH hash", () => {
    const bank = createGenesisBank(genesis);
    expect(bank.slot).toBe(0);
    expect(bank.isFrozen).toBe(true);
    expect(bank.balance(alice.publicKey)).toBe(1_000_000n);
    expect(bank.balance(stranger.publicKey)).toBe(0n);
    const lattice = latticeOfAccounts(genesis.accounts.map((a) => [a.pubkey, a.lamports] as const));
    expect(bank.accountsHash).toEqual(lattice.checksum());
    expect(bank.lastPohHash).toEqual(genesisBlockhash);
    expect(bank.bankHash).toEqual(sha256(new Uint8Array(32), bank.accountsHash, u64le(0), genesisBlockhash));
    expect(bank.bankHash).toEqual(
      computeBankHash(new Uint8Array(32), bank.accountsHash, 0, genesisBlockhash),
    );
  });

  it("refuses a genesis whose total supply exceeds a u64", () => {
    const rich = fixtureGenesis([(1n << 64n) - 1n]);
    expect(() => createGenesisBank(rich)).toThrow(/more than 2\^64-1 lamports/);
  });
});

describe("executing transactions", () => {
  it("charges base plus priority fee, moves lamports and burns the fee", () => {
    const bank = slotOne();
    const t = transfer(alice, stranger.publicKey, 1_000n, {
      blockhash: genesisBlockhash,
      computeUnitLimit: 200_000,
      computeUnitPrice: 10n, // 2,000,000 micro-lamports = 2 lamports
    });
    const results = bank.executeUserBlockSlot(1, [userBlock(0, 0, [t])]);
    expect(results).toEqual([
      {
        signature: t.id,
        status: S.EXECUTION_STATUS_OK,
        fee: FEE + 2n,
        slot: 1,
        userBlockSlot: 1,
        proposer: results[0]!.proposer,
      },
    ]);
    expect(bank.balance(alice.publicKey)).toBe(1_000_000n - 1_000n - FEE - 2n);
    expect(bank.balance(stranger.publicKey)).toBe(1_000n);
    expect(bank.signatureCount).toBe(1);
    expect(bank.hasExecuted(t.id, genesisBlockhash)).toBe(true);
  });

  it("SignatureFailure: skipped, no fee, not cached, reported against the proposer", () => {
    const bank = slotOne();
    const good = transfer(alice, stranger.publicKey, 1n, { blockhash: genesisBlockhash });
    const forged = { ...good.wire, signatures: [new Uint8Array(64).fill(7)] };
    const block = userBlock(3, 0, []);
    const results = bank.executeUserBlockSlot(1, [
      { ...block, items: [{ item: { item: { $case: "transaction", value: forged } }, pohPosition: 1 }] },
    ]);
    expect(statusOf(results)).toEqual([S.EXECUTION_STATUS_SIGNATURE_FAILURE]);
    expect(results[0]!.proposer).toEqual(block.proposer);
    expect(feesOf(results)).toEqual([0n]);
    expect(bank.balance(alice.publicKey)).toBe(1_000_000n);
    expect(bank.signatureCount).toBe(0);
  });

  it("a forged copy that sorts first does not block the genuine transaction", () => {
    const bank = slotOne();
    const genuine = buildTransaction(
      {
        recentBlockhash: genesisBlockhash,
        computeUnitLimit: 10_000,
        computeUnitPrice: 0n,
        instructions: [transferInstruction(1, stranger.publicKey, 5n)],
      },
      [alice, bob],
      genesis.limits,
    );
    // Same id (signatures[0]) but a broken second signature.
    const forged = { ...genuine.wire, signatures: [genuine.wire.signatures[0]!, new Uint8Array(64)] };
    const results = bank.executeUserBlockSlot(1, [
      {
        ...userBlock(0, 0, []),
        items: [{ item: { item: { $case: "transaction", value: forged } }, pohPosition: 1 }],
      },
      userBlock(1, 1, [genuine]),
    ]);
    expect(statusOf(results)).toEqual([S.EXECUTION_STATUS_SIGNATURE_FAILURE, S.EXECUTION_STATUS_OK]);
    expect(bank.balance(stranger.publicKey)).toBe(5n);
    expect(bank.signatureCount).toBe(2);
  });

  it("BlockhashNotFound: an unknown blockhash is dropped without a fee", () => {
    const bank = slotOne();
    const t = transfer(alice, stranger.publicKey, 1n, { blockhash: sha256(utf8("nowhere")) });
    const results = bank.executeUserBlockSlot(2, [userBlock(0, 0, [t])]);
    expect(statusOf(results)).toEqual([S.EXECUTION_STATUS_BLOCKHASH_NOT_FOUND]);
    expect(feesOf(results)).toEqual([0n]);
    expect(bank.balance(alice.publicKey)).toBe(1_000_000n);
    expect(bank.hasExecuted(t.id, genesisBlockhash)).toBe(false);
  });

  it("BlockhashNotFound: a blockhash expires blockhashValiditySlots (4) slots after its slot", () => {
    let bank = createGenesisBank(genesis);
    for (let slot = 1; slot <= 4; slot++) {
      bank = bank.newChild(slot);
      expect(bank.isBlockhashValid(genesisBlockhash)).toBe(true);
      bank.freeze(pohHashOf(slot));
    }
    const five = bank.newChild(5);
    expect(five.isBlockhashValid(genesisBlockhash)).toBe(false);
    expect(five.isBlockhashValid(pohHashOf(1))).toBe(true);
    expect(five.isBlockhashValid(pohHashOf(4))).toBe(true);
    const results = five.executeUserBlockSlot(9, [
      userBlock(0, 0, [
        transfer(alice, stranger.publicKey, 1n, { blockhash: genesisBlockhash }),
        transfer(bob, stranger.publicKey, 1n, { blockhash: pohHashOf(1) }),
      ]),
    ]);
    expect(statusOf(results)).toEqual([S.EXECUTION_STATUS_BLOCKHASH_NOT_FOUND, S.EXECUTION_STATUS_OK]);
    // A skipped slot ages hashes just the same: slot 1's hash is gone by slot 6 (6 − 1 > 4).
    expect(bank.newChild(6).isBlockhashValid(pohHashOf(1))).toBe(false);
  });

  it("BlockhashNotFound: the blockhash of another fork is not valid", () => {
    const root = createGenesisBank(genesis);
    const a = root.newChild(1);
    a.freeze(pohHashOf(1, "a"));
    const b = root.newChild(2);
    const results = b.executeUserBlockSlot(3, [
      userBlock(0, 0, [transfer(alice, stranger.publicKey, 1n, { blockhash: pohHashOf(1, "a") })]),
    ]);
    expect(statusOf(results)).toEqual([S.EXECUTION_STATUS_BLOCKHASH_NOT_FOUND]);
    expect(a.newChild(2).isBlockhashValid(pohHashOf(1, "a"))).toBe(true);
  });

  it("Duplicate: the same transaction twice in one UserBlockSlot, and again in a later slot of the fork", () => {
    const root = createGenesisBank(genesis);
    const one = root.newChild(1);
    const t = transfer(alice, stranger.publicKey, 10n, { blockhash: genesisBlockhash });
    const first = one.executeUserBlockSlot(1, [userBlock(0, 0, [t]), userBlock(1, 1, [t])]);
    expect(statusOf(first)).toEqual([S.EXECUTION_STATUS_OK, S.EXECUTION_STATUS_DUPLICATE]);
    expect(feesOf(first)).toEqual([FEE, 0n]);
    one.freeze(pohHashOf(1));
    const two = one.newChild(2);
    const again = two.executeUserBlockSlot(3, [userBlock(0, 0, [t])]);
    expect(statusOf(again)).toEqual([S.EXECUTION_STATUS_DUPLICATE]);
    expect(two.balance(stranger.publicKey)).toBe(10n);
    expect(two.balance(alice.publicKey)).toBe(1_000_000n - 10n - FEE);
  });

  it("Duplicate only on the same fork: a sibling fork executes the transaction", () => {
    const root = createGenesisBank(genesis);
    const t = transfer(alice, stranger.publicKey, 10n, { blockhash: genesisBlockhash });
    const a = root.newChild(1);
    expect(statusOf(a.executeUserBlockSlot(1, [userBlock(0, 0, [t])]))).toEqual([S.EXECUTION_STATUS_OK]);
    const b = root.newChild(2);
    expect(statusOf(b.executeUserBlockSlot(3, [userBlock(0, 0, [t])]))).toEqual([S.EXECUTION_STATUS_OK]);
    expect(root.balance(stranger.publicKey)).toBe(0n);
  });

  it("InsufficientFundsForFee: dropped with no fee and not cached, so a later funded copy runs", () => {
    const bank = slotOne();
    const t = transfer(stranger, alice.publicKey, 0n, { blockhash: genesisBlockhash });
    const fund = transfer(alice, stranger.publicKey, 20_000n, {
      blockhash: genesisBlockhash,
      computeUnitPrice: 0n,
    });
    // Same rate everywhere: PoH positions 1, 2, 3 (the fixture puts item i at i + 1) fix the order.
    const results = bank.executeUserBlockSlot(1, [
      userBlock(0, 0, [t]),
      userBlock(1, 1, [fund, fund]),
      userBlock(2, 2, [t, t, t]),
    ]);
    expect(results.map((r) => [r.proposer, r.status, r.fee])).toEqual([
      [userBlock(0, 0, []).proposer, S.EXECUTION_STATUS_INSUFFICIENT_FUNDS_FOR_FEE, 0n], // position 1
      [userBlock(1, 0, []).proposer, S.EXECUTION_STATUS_OK, FEE], // position 1
      [userBlock(2, 0, []).proposer, S.EXECUTION_STATUS_OK, FEE], // position 1, now funded
      [userBlock(1, 0, []).proposer, S.EXECUTION_STATUS_DUPLICATE, 0n], // position 2
      [userBlock(2, 0, []).proposer, S.EXECUTION_STATUS_DUPLICATE, 0n],
      [userBlock(2, 0, []).proposer, S.EXECUTION_STATUS_DUPLICATE, 0n], // position 3
    ]);
    expect(bank.balance(stranger.publicKey)).toBe(20_000n - FEE);
  });

  it("InsufficientFunds: a transfer beyond the balance after the fee keeps the fee and changes nothing else", () => {
    const bank = slotOne();
    const poor = fixtureGenesis([0n, 0n, 10_000n]);
    const b = createGenesisBank(poor).newChild(1);
    const t = transfer(carol, stranger.publicKey, 5_001n, { blockhash: genesisHash(poor) });
    const results = b.executeUserBlockSlot(1, [userBlock(0, 0, [t])]);
    expect(statusOf(results)).toEqual([S.EXECUTION_STATUS_INSUFFICIENT_FUNDS]);
    expect(feesOf(results)).toEqual([FEE]);
    expect(b.balance(carol.publicKey)).toBe(5_000n);
    expect(b.balance(stranger.publicKey)).toBe(0n);
    expect(b.signatureCount).toBe(1);
    expect(b.hasExecuted(t.id, genesisHash(poor))).toBe(true);
    const low = transfer(dave, stranger.publicKey, 0n, { blockhash: genesisBlockhash });
    expect(statusOf(bank.executeUserBlockSlot(1, [userBlock(0, 0, [low])]))).toEqual([
      S.EXECUTION_STATUS_INSUFFICIENT_FUNDS_FOR_FEE,
    ]);
  });

  it("ComputeBudgetExceeded: the fee stays, the transaction's earlier effects roll back", () => {
    const bank = slotOne();
    const limit = 720 + 150 + 1_000;
    const over = transfer(alice, stranger.publicKey, 100n, {
      blockhash: genesisBlockhash,
      computeUnitLimit: limit,
      instructions: [burnComputeInstruction(1_001)],
    });
    const exact = transfer(bob, stranger.publicKey, 100n, {
      blockhash: genesisBlockhash,
      computeUnitLimit: limit,
      instructions: [burnComputeInstruction(1_000)],
    });
    const belowSignatures = transfer(carol, stranger.publicKey, 1n, {
      blockhash: genesisBlockhash,
      computeUnitLimit: 719,
    });
    const results = bank.executeUserBlockSlot(1, [userBlock(0, 0, [over, exact, belowSignatures])]);
    expect(statusOf(results)).toEqual([
      S.EXECUTION_STATUS_COMPUTE_BUDGET_EXCEEDED,
      S.EXECUTION_STATUS_OK,
      S.EXECUTION_STATUS_COMPUTE_BUDGET_EXCEEDED,
    ]);
    expect(feesOf(results)).toEqual([FEE, FEE, FEE]);
    expect(bank.balance(alice.publicKey)).toBe(1_000_000n - FEE);
    expect(bank.balance(stranger.publicKey)).toBe(100n);
  });

  it("meters memos per byte", () => {
    const bank = slotOne();
    const memo = (text: string, limit: number) =>
      buildTransaction(
        {
          recentBlockhash: genesisBlockhash,
          computeUnitLimit: limit,
          computeUnitPrice: 0n,
          instructions: [memoInstruction(text)],
        },
        [alice],
        genesis.limits,
      );
    const results = bank.executeUserBlockSlot(1, [
      userBlock(0, 0, [memo("hello", 720 + 100 + 50), memo("hello!", 720 + 100 + 50)]),
    ]);
    expect(statusOf(results)).toEqual([S.EXECUTION_STATUS_OK, S.EXECUTION_STATUS_COMPUTE_BUDGET_EXCEEDED]);
  });

  it("deletes an account that reaches 0 lamports", () => {
    const bank = slotOne();
    const all = transfer(carol, stranger.publicKey, 10_000n - FEE, { blockhash: genesisBlockhash });
    expect(statusOf(bank.executeUserBlockSlot(1, [userBlock(0, 0, [all])]))).toEqual([S.EXECUTION_STATUS_OK]);
    expect(bank.balance(carol.publicKey)).toBe(0n);
    bank.freeze(pohHashOf(1));
    const accounts = genesis.accounts
      .filter((a) => !Buffer.from(a.pubkey).equals(carol.publicKey))
      .map((a) => [a.pubkey, a.lamports] as const);
    const expected = latticeOfAccounts([...accounts, [stranger.publicKey, 10_000n - FEE]]);
    expect(bank.accountsHash).toEqual(expected.checksum());
  });

  it("reports invalid items without charging anything", () => {
    const bank = slotOne();
    const t = transfer(alice, stranger.publicKey, 1n, { blockhash: genesisBlockhash });
    const garbled: tx.Transaction = { message: Uint8Array.of(0xff), signatures: [t.id] };
    const results = bank.executeUserBlockSlot(1, [
      {
        proposer: new Uint8Array(32),
        entryIndex: 0,
        items: [
          { item: { item: { $case: "transaction", value: garbled } }, pohPosition: 1 },
          { item: { item: { $case: "bundle", value: { transactions: [] } } }, pohPosition: 1 },
          { item: { item: undefined }, pohPosition: 1 },
        ],
      },
    ]);
    expect(results.map((r) => [r.signature, r.status, r.fee])).toEqual([
      [t.id, S.EXECUTION_STATUS_INVALID_TRANSACTION, 0n],
    ]);
    expect(bank.balance(alice.publicKey)).toBe(1_000_000n);
  });

  it("executes in priority order across blocks", () => {
    const bank = slotOne();
    const cheap = transfer(alice, stranger.publicKey, 1n, {
      blockhash: genesisBlockhash,
      computeUnitPrice: 1n,
    });
    const rich = transfer(bob, stranger.publicKey, 2n, {
      blockhash: genesisBlockhash,
      computeUnitPrice: 100n,
    });
    const mid = transfer(carol, stranger.publicKey, 3n, {
      blockhash: genesisBlockhash,
      computeUnitPrice: 50n,
    });
    const results = bank.executeUserBlockSlot(1, [userBlock(0, 5, [cheap, mid]), userBlock(1, 2, [rich])]);
    expect(results.map((r) => r.signature)).toEqual([rich.id, mid.id, cheap.id]);
  });
});

describe("bundles", () => {
  it("run contiguously and all succeed together", () => {
    const bank = slotOne();
    const a = transfer(alice, carol.publicKey, 500n, { blockhash: genesisBlockhash, computeUnitPrice: 1n });
    const b = transfer(carol, stranger.publicKey, 10_000n + 500n - FEE, { blockhash: genesisBlockhash });
    const between = transfer(bob, stranger.publicKey, 1n, {
      blockhash: genesisBlockhash,
      computeUnitPrice: 1n,
    });
    // The bundle's rate (1·10,000 + 0) / 20,000 is below `between`'s 1, so `between` runs first.
    const results = bank.executeUserBlockSlot(1, [userBlock(0, 0, [[a, b], between])]);
    expect(results.map((r) => r.signature)).toEqual([between.id, a.id, b.id]);
    expect(statusOf(results)).toEqual([S.EXECUTION_STATUS_OK, S.EXECUTION_STATUS_OK, S.EXECUTION_STATUS_OK]);
    expect(bank.balance(carol.publicKey)).toBe(0n);
  });

  it("roll back every state change when one transaction fails; every fee stays", () => {
    const bank = slotOne();
    const a = transfer(alice, stranger.publicKey, 700n, { blockhash: genesisBlockhash });
    const b = transfer(carol, stranger.publicKey, 10_000n, { blockhash: genesisBlockhash });
    const results = bank.executeUserBlockSlot(1, [userBlock(0, 0, [[a, b]])]);
    expect(statusOf(results)).toEqual([
      S.EXECUTION_STATUS_BUNDLE_ROLLED_BACK,
      S.EXECUTION_STATUS_INSUFFICIENT_FUNDS,
    ]);
    expect(feesOf(results)).toEqual([FEE, FEE]);
    expect(bank.balance(stranger.publicKey)).toBe(0n);
    expect(bank.balance(alice.publicKey)).toBe(1_000_000n - FEE);
    expect(bank.balance(carol.publicKey)).toBe(10_000n - FEE);
    expect(bank.signatureCount).toBe(2);
    expect(bank.hasExecuted(a.id, genesisBlockhash)).toBe(true);
  });

  it("charge the fees of the transactions that can pay and run nothing if one cannot", () => {
    const bank = slotOne();
    const a = transfer(alice, stranger.publicKey, 700n, { blockhash: genesisBlockhash });
    const b = transfer(stranger, alice.publicKey, 0n, { blockhash: genesisBlockhash });
    const results = bank.executeUserBlockSlot(1, [userBlock(0, 0, [[a, b]])]);
    expect(statusOf(results)).toEqual([
      S.EXECUTION_STATUS_BUNDLE_ROLLED_BACK,
      S.EXECUTION_STATUS_INSUFFICIENT_FUNDS_FOR_FEE,
    ]);
    expect(feesOf(results)).toEqual([FEE, 0n]);
    expect(bank.balance(stranger.publicKey)).toBe(0n);
    expect(bank.hasExecuted(b.id, genesisBlockhash)).toBe(false);
  });

  it("charge fees from the state before the bundle: its own transfers cannot fund them", () => {
    const bank = slotOne();
    const fund = transfer(alice, stranger.publicKey, 50_000n, { blockhash: genesisBlockhash });
    const spend = transfer(stranger, alice.publicKey, 1n, { blockhash: genesisBlockhash });
    const results = bank.executeUserBlockSlot(1, [userBlock(0, 0, [[fund, spend]])]);
    expect(statusOf(results)).toEqual([
      S.EXECUTION_STATUS_BUNDLE_ROLLED_BACK,
      S.EXECUTION_STATUS_INSUFFICIENT_FUNDS_FOR_FEE,
    ]);
  });

  it("are dropped without fees when a signature, blockhash or duplicate check fails", () => {
    const bank = slotOne();
    const a = transfer(alice, stranger.publicKey, 1n, { blockhash: genesisBlockhash });
    const forged = transfer(bob, stranger.publicKey, 1n, { blockhash: genesisBlockhash });
    const stale = transfer(bob, stranger.publicKey, 2n, { blockhash: sha256(utf8("stale")) });
    const done = transfer(carol, stranger.publicKey, 1n, { blockhash: genesisBlockhash });
    const bundle = (...items: tx.Transaction[]): tx.TransactionItem => ({
      item: { $case: "bundle", value: { transactions: items } },
    });
    const results = bank.executeUserBlockSlot(1, [
      {
        proposer: new Uint8Array(32),
        entryIndex: 0,
        items: [
          { item: { item: { $case: "transaction", value: done.wire } }, pohPosition: 1 },
          { item: bundle(a.wire, { ...forged.wire, signatures: [new Uint8Array(64)] }), pohPosition: 2 },
          { item: bundle(a.wire, stale.wire), pohPosition: 3 },
          { item: bundle(done.wire, a.wire), pohPosition: 4 },
        ],
      },
    ]);
    expect(results.map((r) => [r.status, r.fee])).toEqual([
      [S.EXECUTION_STATUS_OK, FEE],
      [S.EXECUTION_STATUS_BUNDLE_ROLLED_BACK, 0n],
      [S.EXECUTION_STATUS_SIGNATURE_FAILURE, 0n],
      [S.EXECUTION_STATUS_BUNDLE_ROLLED_BACK, 0n],
      [S.EXECUTION_STATUS_BLOCKHASH_NOT_FOUND, 0n],
      [S.EXECUTION_STATUS_DUPLICATE, 0n],
      [S.EXECUTION_STATUS_BUNDLE_ROLLED_BACK, 0n],
    ]);
    expect(bank.balance(alice.publicKey)).toBe(1_000_000n);
    expect(bank.hasExecuted(a.id, genesisBlockhash)).toBe(false);
  });
});

describe("input checks", () => {
  it("refuses out-of-order UserBlockSlots, future ones, a frozen bank and ambiguous blocks, changing nothing", () => {
    const bank = slotOne();
    const t = transfer(alice, stranger.publicKey, 1n, { blockhash: genesisBlockhash });
    expect(() => bank.executeUserBlockSlot(3, [])).toThrow(/has not ended/);
    expect(() => bank.executeUserBlockSlot(1, [userBlock(0, 4, [t]), userBlock(1, 4, [t])])).toThrow(
      /entryIndex: 4 names two blocks/,
    );
    expect(bank.balance(alice.publicKey)).toBe(1_000_000n);
    bank.executeUserBlockSlot(2, []);
    expect(() => bank.executeUserBlockSlot(1, [])).toThrow(/not after 2/);
    bank.freeze(pohHashOf(1));
    expect(() => bank.executeUserBlockSlot(2, [])).toThrow(BankError);
    expect(() => bank.freeze(pohHashOf(1))).toThrow(/already frozen/);
    expect(() => bank.newChild(1)).toThrow(/needs a later slot/);
    expect(() => slotOne().newChild(2)).toThrow(/not frozen/);
    expect(() => slotOne().bankHash).toThrow(/not frozen/);
  });
});

describe("BankHash", () => {
  it("chains sha256(parent ‖ accountsHash ‖ u64le(signatureCount) ‖ lastPohHash)", () => {
    const root = createGenesisBank(genesis);
    const bank = root.newChild(1);
    bank.executeUserBlockSlot(1, [
      userBlock(0, 0, [
        transfer(alice, stranger.publicKey, 1n, { blockhash: genesisBlockhash }),
        transfer(bob, stranger.publicKey, 1n, { blockhash: genesisBlockhash }),
      ]),
    ]);
    const hash = bank.freeze(pohHashOf(1));
    expect(bank.signatureCount).toBe(2);
    expect(hash).toEqual(sha256(root.bankHash, bank.accountsHash, u64le(2), pohHashOf(1)));
    expect(bank.parentBankHash).toEqual(root.bankHash);
  });

  it("an empty slot changes only the PoH part", () => {
    const root = createGenesisBank(genesis);
    const bank = root.newChild(1);
    bank.freeze(pohHashOf(1));
    expect(bank.accountsHash).toEqual(root.accountsHash);
    expect(bank.bankHash).toEqual(sha256(root.bankHash, root.accountsHash, u64le(0), pohHashOf(1)));
  });

  it("the fault option perturbs every BankHash from its slot on, and only then", () => {
    const run = (faultyBankHashFromSlot?: number) => {
      let bank = createGenesisBank(
        genesis,
        faultyBankHashFromSlot === undefined ? {} : { faultyBankHashFromSlot },
      );
      const hashes = [bank.bankHash];
      for (let slot = 1; slot <= 3; slot++) {
        bank = bank.newChild(slot);
        hashes.push(bank.freeze(pohHashOf(slot)));
      }
      return { hashes, bank };
    };
    const honest = run();
    const faulty = run(2);
    expect(faulty.hashes.slice(0, 2)).toEqual(honest.hashes.slice(0, 2));
    expect(faulty.hashes[2]).toEqual(perturbedBankHash(honest.hashes[2]!));
    expect(faulty.hashes[3]).not.toEqual(honest.hashes[3]);
    expect(faulty.bank.accountsHash).toEqual(honest.bank.accountsHash);
    expect(() => createGenesisBank(genesis, { faultyBankHashFromSlot: -1 })).toThrow(BankError);
  });

  it("a vote commits to sha256(BankHash ‖ voterKey)", () => {
    const bankHash = sha256(utf8("bank"));
    const voter = user(7).publicKey;
    expect(bankHashCommitment(bankHash, voter)).toEqual(sha256(bankHash, voter));
    expect(bankHashCommitment(bankHash, voter)).not.toEqual(bankHashCommitment(bankHash, user(8).publicKey));
  });
});
