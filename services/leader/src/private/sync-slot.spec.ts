import {
  buildTransaction,
  createGenesisBank,
  createTestnetGenesis,
  decodeTransactionItem,
  deriveKeypair,
  ExecutionMode,
  genesisHash,
  KEY_ROLES,
  type Keypair,
  toHex,
  transferInstruction,
  verifyTransactionSignatures,
} from "@simd23/core";
import { tx } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { FeedPool, fedItemOf } from "./feed-pool.js";
import { fateOf, SyncSlotExecution } from "./sync-slot.js";

const S = tx.ExecutionStatus;
const seed = new Uint8Array(32).fill(6);
const genesis = createTestnetGenesis({
  clusterName: "sync-slot",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 1,
  proposerPool: 1,
  mode: ExecutionMode.EXECUTION_MODE_SYNC,
});
const faucet = deriveKeypair(seed, KEY_ROLES.faucet, 0);
const pauper = deriveKeypair(seed, "user", 1);
const receiver = deriveKeypair(seed, "user", 2).publicKey;

function feed(pool: FeedPool, payer: Keypair, lamports: bigint, price: bigint, computeUnits = 1_000) {
  const transaction = buildTransaction(
    {
      recentBlockhash: genesisHash(genesis),
      computeUnitLimit: computeUnits,
      computeUnitPrice: price,
      instructions: [transferInstruction(0, receiver, lamports)],
    },
    [payer],
    genesis.limits,
  );
  const item: tx.TransactionItem = { item: { $case: "transaction", value: transaction.wire } };
  const decoded = decodeTransactionItem(item, genesis.limits, { verifySignatures: false });
  if (!decoded.ok) throw decoded.error;
  const added = pool.add(fedItemOf(toHex(transaction.id), item, decoded.value, 200, 0))!;
  added.signaturesValid = true;
  return item;
}

const limits = { maxSlotComputeUnits: 10_000n, entryBytes: 100_000, chunkItems: 2 };

describe("SyncSlotExecution", () => {
  it("executes the best items first, records only those that paid a fee, and keeps to the slot's compute units", () => {
    const pool = new FeedPool();
    const bank = createGenesisBank(genesis).newChild(1);
    const cheap = feed(pool, faucet, 1n, 1n, 4_000);
    const rich = feed(pool, faucet, 2n, 9n, 4_000);
    feed(pool, pauper, 3n, 5n, 1_000);
    const late = feed(pool, faucet, 4n, 0n, 4_000);
    pool.beginSlot(0, 1, () => false);
    const execution = new SyncSlotExecution(bank, pool, limits, verifyTransactionSignatures);
    const recorded = execution.executeDue(() => false);
    // The pauper cannot pay: not recorded. The third 4,000-unit transfer does not fit 10,000 units.
    expect(recorded).toEqual([rich, cheap]);
    expect(execution.counts).toEqual({ recorded: 2, refused: 1 });
    expect(execution.computeUnits).toBe(8_000n);
    expect(bank.balance(receiver)).toBe(3n);
    expect(execution.executeDue(() => false)).toEqual([]);
    // In the next slot of the chain the one that did not fit runs, and the pauper is tried again.
    const next = createGenesisBank(genesis).newChild(2);
    pool.beginSlot(1, 2, () => false);
    expect(
      new SyncSlotExecution(next, pool, limits, verifyTransactionSignatures).executeDue(() => false),
    ).toEqual([late]);
  });

  it("stops when the tick's time is up", () => {
    const pool = new FeedPool();
    for (let i = 0; i < 5; i++) feed(pool, faucet, BigInt(i + 1), 1n);
    pool.beginSlot(0, 1, () => false);
    const execution = new SyncSlotExecution(
      createGenesisBank(genesis).newChild(1),
      pool,
      limits,
      verifyTransactionSignatures,
    );
    let looks = 0;
    // One chunk of two, then time is up.
    expect(execution.executeDue(() => looks++ >= 1)).toHaveLength(2);
  });
});

describe("fateOf", () => {
  const result = (status: tx.ExecutionStatus) => ({
    signature: new Uint8Array(64),
    status,
    fee: 0n,
    slot: 1,
    userBlockSlot: 0,
    proposer: new Uint8Array(0),
  });
  it("maps the bank's statuses to what the feed does with the item", () => {
    expect(fateOf([result(S.EXECUTION_STATUS_INSUFFICIENT_FUNDS)], true)).toBe("executed");
    expect(fateOf([result(S.EXECUTION_STATUS_SIGNATURE_FAILURE)], false)).toBe("invalid");
    expect(fateOf([result(S.EXECUTION_STATUS_INVALID_TRANSACTION)], false)).toBe("invalid");
    expect(fateOf([], false)).toBe("invalid");
    expect(
      fateOf([result(S.EXECUTION_STATUS_BUNDLE_ROLLED_BACK), result(S.EXECUTION_STATUS_DUPLICATE)], false),
    ).toBe("done-on-chain");
    expect(fateOf([result(S.EXECUTION_STATUS_INSUFFICIENT_FUNDS_FOR_FEE)], false)).toBe("retry");
    expect(fateOf([result(S.EXECUTION_STATUS_BLOCKHASH_NOT_FOUND)], false)).toBe("retry");
  });
});
