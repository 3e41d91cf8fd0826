import { type control, tx } from "@simd23/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { utf8 } from "../bytes.js";
import { genesisHash } from "../genesis.js";
import { sha256 } from "../hash.js";
import { type OrderBlock, type OrderItem, sortExecutionUnits } from "../order/order.js";
import { decodeTransactionItem } from "../tx/bundle.js";
import type { ValidTransaction } from "../tx/transaction.js";
import { type Bank, BankError, createGenesisBank, type UserBlockForExecution } from "./bank.js";
import { fixtureGenesis, pohHashOf, transfer, user, userBlock } from "./fixture.js";
import { executeSyncSlot } from "./sync.js";

const S = tx.ExecutionStatus;
const FEE = 5_000n;
const genesis = fixtureGenesis([1_000_000n, 1_000_000n, 10_000n, 4_000n]);
const [alice, bob, carol, dave] = [user(0), user(1), user(2), user(3)];
const stranger = user(99);
const blockhash = genesisHash(genesis);

const slotOne = (): Bank => createGenesisBank(genesis).newChild(1);
const asItem = (t: ValidTransaction | readonly ValidTransaction[]): tx.TransactionItem =>
  Array.isArray(t)
    ? { item: { $case: "bundle", value: { transactions: t.map((x) => x.wire) } } }
    : { item: { $case: "transaction", value: (t as ValidTransaction).wire } };
const outcome = (results: readonly control.TransactionResult[]) =>
  results.map((r) => [r.signature, r.status, r.fee, r.slot] as const);

/** The items of one UserBlockSlot in the order executeUserBlockSlot runs them (sortExecutionUnits, as the bank feeds it). */
function executionOrder(blocks: readonly UserBlockForExecution[]): tx.TransactionItem[] {
  const orderBlocks: OrderBlock[] = blocks.map((block) => ({
    proposer: "",
    entryIndex: block.entryIndex,
    items: block.items.map(({ item, pohPosition }): OrderItem => {
      const decoded = decodeTransactionItem(item, genesis.limits, { verifySignatures: false });
      if (!decoded.ok) return { id: "", cuPrice: 0n, cuLimit: 1, pohPosition };
      if (decoded.value.kind === "transaction") {
        const t = decoded.value.transaction;
        return { id: "", cuPrice: t.computeUnitPrice, cuLimit: t.computeUnitLimit, pohPosition };
      }
      return {
        bundle: decoded.value.bundle.transactions.map((t) => ({
          id: "",
          cuPrice: t.computeUnitPrice,
          cuLimit: t.computeUnitLimit,
        })),
        pohPosition,
      };
    }),
  }));
  return sortExecutionUnits(orderBlocks).map((unit) => blocks[unit.blockIndex]!.items[unit.itemIndex]!.item);
}

describe("Bank.executeItems (sync mode)", () => {
  it("given the order executeUserBlockSlot uses, gives the same results and the same BankHash", () => {
    const cheap = transfer(alice, stranger.publicKey, 1n, { blockhash, computeUnitPrice: 1n });
    const rich = transfer(bob, stranger.publicKey, 2n, { blockhash, computeUnitPrice: 100n });
    const mid = transfer(carol, stranger.publicKey, 3n, { blockhash, computeUnitPrice: 50n });
    const unfunded = transfer(stranger, alice.publicKey, 1n, { blockhash, computeUnitPrice: 70n });
    const overdrawn = transfer(bob, stranger.publicKey, 10_000_000n, { blockhash, computeUnitPrice: 60n });
    const stale = transfer(alice, stranger.publicKey, 4n, { blockhash: sha256(utf8("stale")) });
    const bundleOk = [
      transfer(alice, carol.publicKey, 500n, { blockhash, computeUnitPrice: 20n }),
      transfer(carol, stranger.publicKey, 7n, { blockhash, computeUnitPrice: 20n }),
    ];
    const bundleFails = [
      transfer(bob, stranger.publicKey, 5n, { blockhash, computeUnitPrice: 30n }),
      transfer(dave, stranger.publicKey, 9_000_000n, { blockhash, computeUnitPrice: 30n }),
    ];
    const starved = transfer(alice, stranger.publicKey, 1n, { blockhash, computeUnitLimit: 100 });
    const forged = { ...cheap.wire, signatures: [new Uint8Array(64).fill(3)] };
    const garbled = { ...mid.wire, message: new Uint8Array([1, 2, 3]) };
    const blocks: UserBlockForExecution[] = [
      userBlock(0, 4, [cheap, bundleOk, unfunded, rich, starved]),
      {
        ...userBlock(1, 1, [mid, overdrawn, bundleFails, stale, rich]),
        items: [
          ...userBlock(1, 1, [mid, overdrawn, bundleFails, stale, rich]).items,
          { item: { item: { $case: "transaction", value: forged } }, pohPosition: 9 },
          { item: { item: { $case: "transaction", value: garbled } }, pohPosition: 9 },
        ],
      },
    ];

    const byUserBlockSlot = slotOne();
    const expected = byUserBlockSlot.executeUserBlockSlot(1, blocks);
    const inOrder = slotOne();
    const executed = inOrder.executeItems(executionOrder(blocks));
    expect(outcome(executed.flatMap((e) => e.results))).toEqual(outcome(expected));
    // Every status appears, so the comparison covers each rule of the bank.
    expect(new Set(expected.map((r) => r.status))).toEqual(
      new Set([
        S.EXECUTION_STATUS_OK,
        S.EXECUTION_STATUS_DUPLICATE,
        S.EXECUTION_STATUS_INSUFFICIENT_FUNDS_FOR_FEE,
        S.EXECUTION_STATUS_INSUFFICIENT_FUNDS,
        S.EXECUTION_STATUS_COMPUTE_BUDGET_EXCEEDED,
        S.EXECUTION_STATUS_BUNDLE_ROLLED_BACK,
        S.EXECUTION_STATUS_BLOCKHASH_NOT_FOUND,
        S.EXECUTION_STATUS_SIGNATURE_FAILURE,
        S.EXECUTION_STATUS_INVALID_TRANSACTION,
      ]),
    );
    expect(inOrder.freeze(pohHashOf(1))).toEqual(byUserBlockSlot.freeze(pohHashOf(1)));
    expect(inOrder.signatureCount).toBe(byUserBlockSlot.signatureCount);
  });

  it("runs items in exactly the given order, whatever their fee rates", () => {
    // Carol (10,000) can pay one 5,000-lamport fee plus a transfer of at most 5,000: the first to run wins.
    const big = transfer(carol, stranger.publicKey, 4_000n, { blockhash, computeUnitPrice: 1_000n });
    const small = transfer(carol, stranger.publicKey, 1n, { blockhash, computeUnitPrice: 0n });

    const bigFirst = slotOne().executeItems([asItem(big), asItem(small)]);
    expect(bigFirst.map((e) => e.results[0]!.status)).toEqual([
      S.EXECUTION_STATUS_OK,
      S.EXECUTION_STATUS_INSUFFICIENT_FUNDS_FOR_FEE,
    ]);

    const bank = slotOne();
    const smallFirst = bank.executeItems([asItem(small), asItem(big)]);
    expect(smallFirst.map((e) => e.results[0]!.status)).toEqual([
      S.EXECUTION_STATUS_OK,
      S.EXECUTION_STATUS_INSUFFICIENT_FUNDS_FOR_FEE,
    ]);
    expect(bank.balance(carol.publicKey)).toBe(10_000n - 1n - FEE);
    expect(smallFirst.map((e) => e.charged)).toEqual([true, false]);
    expect(smallFirst[0]!.results[0]).toEqual({
      signature: small.id,
      status: S.EXECUTION_STATUS_OK,
      fee: FEE,
      slot: 1,
      userBlockSlot: 0,
      proposer: new Uint8Array(0),
    });
  });

  it("keeps a bundle atomic: a failing transaction rolls the whole bundle back, fees stay", () => {
    const bank = slotOne();
    const pay = transfer(alice, stranger.publicKey, 700n, { blockhash });
    const fail = transfer(carol, stranger.publicKey, 10_000n, { blockhash });
    const [bundle] = bank.executeItems([asItem([pay, fail])]);
    expect(bundle!.results.map((r) => [r.status, r.fee])).toEqual([
      [S.EXECUTION_STATUS_BUNDLE_ROLLED_BACK, FEE],
      [S.EXECUTION_STATUS_INSUFFICIENT_FUNDS, FEE],
    ]);
    expect(bundle!.charged).toBe(true);
    expect(bank.balance(stranger.publicKey)).toBe(0n);
    expect(bank.balance(alice.publicKey)).toBe(1_000_000n - FEE);
    expect(bank.balance(carol.publicKey)).toBe(10_000n - FEE);
  });

  it("an item that paid no fee leaves no trace: the BankHash is that of the bank without it", () => {
    const good = transfer(alice, stranger.publicKey, 10n, { blockhash });
    const unfunded = transfer(stranger, alice.publicKey, 1n, { blockhash });
    const badSignature = { ...transfer(bob, stranger.publicKey, 1n, { blockhash }).wire };
    badSignature.signatures = [new Uint8Array(64)];
    const withRefused = slotOne();
    const executed = withRefused.executeItems([
      asItem(good),
      asItem(unfunded),
      { item: { $case: "transaction", value: badSignature } },
      asItem([transfer(bob, stranger.publicKey, 2n, { blockhash }), unfunded]),
      asItem(good),
    ]);
    expect(executed.map((e) => e.charged)).toEqual([true, false, false, true, false]);
    expect(executed[4]!.results[0]!.status).toBe(S.EXECUTION_STATUS_DUPLICATE);
    const withoutRefused = slotOne();
    withoutRefused.executeItems([
      asItem(good),
      asItem([transfer(bob, stranger.publicKey, 2n, { blockhash }), unfunded]),
    ]);
    expect(withRefused.freeze(pohHashOf(1))).toEqual(withoutRefused.freeze(pohHashOf(1)));
  });

  it("refuses a frozen bank and changes nothing", () => {
    const bank = slotOne();
    bank.freeze(pohHashOf(1));
    expect(() => bank.executeItems([asItem(transfer(alice, stranger.publicKey, 1n, { blockhash }))])).toThrow(
      BankError,
    );
  });

  it("property: the items cut into TransactionEntries any way chain to the same BankHash as one entry", () => {
    const pool = [alice, bob, carol, dave, stranger].flatMap((from, i) =>
      [1n, 2_000n, 9_000n].map((lamports, j) =>
        asItem(transfer(from, user(10 + j).publicKey, lamports, { blockhash, computeUnitPrice: BigInt(i) })),
      ),
    );
    fc.assert(
      fc.property(
        fc.array(fc.nat(pool.length - 1), { maxLength: 20 }),
        fc.array(fc.nat(20), { maxLength: 4 }),
        (picks, cuts) => {
          const items = picks.map((i) => pool[i]!);
          const bounds = [...new Set([0, ...cuts.map((c) => Math.min(c, items.length)), items.length])].sort(
            (a, b) => a - b,
          );
          const entries = bounds.slice(1).map((end, i) => ({ items: items.slice(bounds[i]!, end) }));
          const root = createGenesisBank(genesis);
          const split = executeSyncSlot(root, {
            slot: 1,
            lastPohHash: pohHashOf(1),
            transactionEntries: entries,
          });
          const whole = executeSyncSlot(root, {
            slot: 1,
            lastPohHash: pohHashOf(1),
            transactionEntries: [{ items }],
          });
          expect(split.bankHash).toEqual(whole.bankHash);
          expect(outcome(split.results)).toEqual(outcome(whole.results));
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe("executeSyncSlot", () => {
  it("creates the child bank, runs the entries in ledger order and freezes it with the slot's last PoH hash", () => {
    const root = createGenesisBank(genesis);
    const first = transfer(alice, stranger.publicKey, 100n, { blockhash });
    const second = transfer(bob, stranger.publicKey, 200n, { blockhash, computeUnitPrice: 999n });
    const one = executeSyncSlot(root, {
      slot: 1,
      lastPohHash: pohHashOf(1),
      transactionEntries: [{ items: [asItem(first)] }, { items: [asItem(second)] }],
    });
    // Ledger order, not fee order: the higher-priced transfer was recorded second.
    expect(one.results.map((r) => r.signature)).toEqual([first.id, second.id]);
    expect(one.bank.isFrozen).toBe(true);
    expect(one.bank.balance(stranger.publicKey)).toBe(300n);
    const two = executeSyncSlot(one.bank, {
      slot: 2,
      lastPohHash: pohHashOf(2),
      transactionEntries: [{ items: [asItem(first)] }],
    });
    expect(two.results.map((r) => r.status)).toEqual([S.EXECUTION_STATUS_DUPLICATE]);
    expect(two.bank.parentBankHash).toEqual(one.bankHash);
  });
});
