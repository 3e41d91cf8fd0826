import {
  buildTransaction,
  createTestnetGenesis,
  decodeTransactionItem,
  deriveKeypair,
  ExecutionMode,
  genesisHash,
  toHex,
  transferInstruction,
} from "@simd23/core";
import { tx } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { type FedItem, FeedPool, fedItemOf } from "./feed-pool.js";

const seed = new Uint8Array(32).fill(5);
const genesis = createTestnetGenesis({
  clusterName: "feed-pool",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 1,
  proposerPool: 1,
  mode: ExecutionMode.EXECUTION_MODE_SYNC,
});

let nonce = 0;
/** A fed transfer with a fee rate of `price` micro-lamports per CU, verified unless told otherwise. */
function fed(price: bigint, options: { computeUnits?: number; arrivalMs?: number; verified?: boolean } = {}) {
  const transaction = buildTransaction(
    {
      recentBlockhash: genesisHash(genesis),
      computeUnitLimit: options.computeUnits ?? 1_000,
      computeUnitPrice: price,
      instructions: [transferInstruction(0, new Uint8Array(32).fill(9), BigInt(++nonce))],
    },
    [deriveKeypair(seed, "user", nonce)],
    genesis.limits,
  );
  const item: tx.TransactionItem = { item: { $case: "transaction", value: transaction.wire } };
  const decoded = decodeTransactionItem(item, genesis.limits, { verifySignatures: false });
  if (!decoded.ok) throw decoded.error;
  const bytes = tx.TransactionItem.encode(item).finish().length;
  const made = fedItemOf(toHex(transaction.id), item, decoded.value, bytes, options.arrivalMs ?? 1_000);
  return { ...made, signaturesValid: options.verified === false ? undefined : true };
}

const keysOf = (items: readonly FedItem[]) => items.map((i) => i.key);
const budget = { computeUnits: 1_000_000n, bytes: 1_000_000, maxItems: 100 };

describe("FeedPool", () => {
  it("takes the best fee rate first, ties by arrival, each key once", () => {
    const pool = new FeedPool();
    const low = pool.add(fed(1n))!;
    const high = pool.add(fed(9n))!;
    const midFirst = pool.add(fed(5n))!;
    const midSecond = pool.add(fed(5n))!;
    expect(pool.add({ ...fed(7n), key: high.key })).toBeUndefined();
    expect(keysOf(pool.take(budget))).toEqual(keysOf([high, midFirst, midSecond, low]));
  });

  it("passes over what does not fit or is not verified yet, and keeps it queued", () => {
    const pool = new FeedPool();
    const big = pool.add(fed(9n, { computeUnits: 800_000 }))!;
    const unverified = pool.add(fed(8n, { verified: false }))!;
    const small = pool.add(fed(1n, { computeUnits: 100_000 }))!;
    expect(keysOf(pool.take({ ...budget, computeUnits: 500_000n }))).toEqual([small.key]);
    unverified.signaturesValid = true;
    expect(keysOf(pool.take(budget))).toEqual(keysOf([big, unverified]));
    const bytes = pool.add(fed(3n))!;
    expect(pool.take({ ...budget, bytes: bytes.bytes - 1 })).toEqual([]);
    expect(keysOf(pool.take({ ...budget, maxItems: 1 }))).toEqual([bytes.key]);
  });

  it("on its own chain, an item to retry waits for the next slot; on another chain the queue is rebuilt without what that chain executed", () => {
    const pool = new FeedPool();
    const [a, b, c] = [pool.add(fed(3n))!, pool.add(fed(2n))!, pool.add(fed(1n))!];
    pool.beginSlot(0, 1, () => false);
    const taken = pool.take(budget);
    pool.settle(taken[0]!, "executed");
    pool.settle(taken[1]!, "retry");
    pool.settle(taken[2]!, "done-on-chain");
    expect(pool.take(budget)).toEqual([]);
    pool.beginSlot(1, 2, () => false);
    expect(keysOf(pool.take(budget))).toEqual([b.key]);
    // Slot 3 builds on 1, not on 2: every item slot 1's chain has not executed is back.
    pool.beginSlot(1, 3, (item) => item.key === a.key);
    expect(keysOf(pool.take(budget))).toEqual(keysOf([b, c]));
    expect(pool.size).toBe(3);
  });

  it("forgets invalid items, removed keys and items that arrived before a time", () => {
    const pool = new FeedPool();
    const invalid = pool.add(fed(5n))!;
    const rooted = pool.add(fed(4n))!;
    const old = pool.add(fed(3n, { arrivalMs: 10 }))!;
    const fresh = pool.add(fed(2n, { arrivalMs: 5_000 }))!;
    const taken = pool.take({ ...budget, maxItems: 1 });
    expect(keysOf(taken)).toEqual([invalid.key]);
    pool.settle(taken[0]!, "invalid");
    expect(pool.remove([rooted.key, "unknown"])).toBe(1);
    expect(pool.removeArrivedBefore(1_000)).toBe(1);
    expect(pool.has(old.key)).toBe(false);
    expect(keysOf(pool.take(budget))).toEqual([fresh.key]);
    expect(pool.size).toBe(1);
  });
});
