import {
  checkUserBlock,
  createTestnetGenesis,
  deriveKeypair,
  type Genesis,
  KEY_ROLES,
  type Limits,
  tickDurationMs,
  toHex,
  userBlockHashLimit,
  userBlockSlotStartMs,
} from "@simd23/core";
import { describe, expect, it } from "vitest";
import { pendingItem } from "../testing/items.js";
import { assembleUserBlock, pohPositionOf } from "./block-assembly.js";
import { IntakeBook, type PendingItem } from "./intake-book.js";

const seed = new Uint8Array(32).fill(3);
const U = 40;

function genesisWith(limits: Partial<Limits>): Genesis {
  return createTestnetGenesis({
    clusterName: "assembly",
    clusterSeed: seed,
    validators: 1,
    proposerPool: 2,
    startTimeMs: 1_000_000n,
    timing: { slotDurationMs: 400, ticksPerSlot: 64, proposerHashesPerTick: 100 },
    limits,
  });
}

const keypair = deriveKeypair(seed, KEY_ROLES.proposer, 0);

function assemble(
  genesis: Genesis,
  items: PendingItem[],
  isExpired: (item: PendingItem) => boolean = () => false,
) {
  const book = new IntakeBook(1_000, 60_000);
  for (const item of items) book.takeOver(item);
  const assembled = assembleUserBlock(book, {
    genesis,
    keypair,
    userBlockSlot: U,
    activeProposerCount: 1,
    isExpired,
  });
  const check = checkUserBlock(genesis, assembled.block.bytes, [keypair.publicKey], {
    userBlockSlot: U,
    blockHash: assembled.block.blockHash,
  });
  expect(check.ok).toBe(true);
  return { ...assembled, book };
}

describe("assembleUserBlock", () => {
  // 200,000 CU per slot, one active proposer: 100,000 CU per UserBlock.
  const genesis = genesisWith({ maxSlotComputeUnits: 200_000n, maxTransactionComputeUnits: 100_000 });
  const start = userBlockSlotStartMs(genesis.timing, U);

  it("takes the highest fee rates that fit the compute-unit limit and lays them out in arrival order", () => {
    // The higher the price, the later it arrived.
    const items = Array.from({ length: 10 }, (_, i) =>
      pendingItem({ price: BigInt(i + 1), units: 20_000, arrivalMs: start + i * 10 }),
    );
    const { block, included, book } = assemble(genesis, items);
    expect(included.map((item) => item.feeRate.microLamports / item.feeRate.computeUnits)).toEqual([
      6n,
      7n,
      8n,
      9n,
      10n,
    ]);
    expect(block.header.computeUnits).toBe(100_000n);
    expect(
      block.items.map((positioned) =>
        toHex(positioned.valid.kind === "transaction" ? positioned.valid.transaction.id : new Uint8Array()),
      ),
    ).toEqual(included.map((item) => item.key));
    expect(book.depth).toBe(5);
    expect(book.popBest()?.feeRate.microLamports).toBe(5n * 20_000n);
  });

  it("passes over an item that does not fit and keeps filling with smaller ones", () => {
    const first = pendingItem({ price: 100n, units: 60_000, arrivalMs: start + 1 });
    const tooBig = pendingItem({ price: 90n, units: 50_000, arrivalMs: start + 2 });
    const fits = pendingItem({ price: 80n, units: 40_000, arrivalMs: start + 3 });
    const { included, book } = assemble(genesis, [first, tooBig, fits]);
    expect(included).toEqual([first, fits]);
    expect(book.popBest()).toBe(tooBig);
  });

  it("fills the byte limit without passing it", () => {
    const small = genesisWith({ maxUserBlockBytes: 2_000 });
    const items = Array.from({ length: 30 }, (_, i) =>
      pendingItem({ price: 1n, memoBytes: 40, arrivalMs: userBlockSlotStartMs(small.timing, U) + i * 7 }),
    );
    const { block, included, book } = assemble(small, items);
    expect(block.bytes.length).toBeLessThanOrEqual(2_000);
    expect(included.length).toBeGreaterThan(0);
    expect(book.depth).toBe(30 - included.length);
    // One more item (its bytes, its length prefix, its own entry) would not have fitted.
    const itemBytes = items[0]!.body.length + 2;
    const entryBytes = 1 + 3 + 1 + 3 + 34;
    expect(2_000 - block.bytes.length).toBeLessThan(itemBytes + entryBytes + 171);
  });

  it("places entries at the hashes their items' arrival times give", () => {
    const tick = tickDurationMs(genesis.timing);
    const perTick = genesis.timing.proposerHashesPerTick;
    const early = pendingItem({ arrivalMs: start - 50 });
    const oneTick = pendingItem({ arrivalMs: start + tick });
    const togetherA = pendingItem({ arrivalMs: start + 2.5 * tick });
    const togetherB = pendingItem({ arrivalMs: start + 2.5 * tick });
    const late = pendingItem({ arrivalMs: start + 1_000 });
    const { block } = assemble(genesis, [late, togetherB, oneTick, togetherA, early]);
    const limit = userBlockHashLimit(genesis.timing);
    expect(block.block.entries.map((entry) => [entry.numHashes, entry.items.length])).toEqual([
      [1, 1],
      [perTick - 1, 1],
      [2.5 * perTick - perTick, 2],
      [limit - 2.5 * perTick, 1],
    ]);
    expect(block.items.map((item) => item.pohPosition)).toEqual([1, perTick, 250, 250, limit]);
    expect(pohPositionOf(genesis, U, start + tick, limit)).toBe(perTick);
  });

  it("hands back the items whose blockhash expires first instead of proposing them", () => {
    const expired = pendingItem({ price: 9n, blockhashSlot: 1 });
    const fresh = pendingItem({ price: 1n, blockhashSlot: 5 });
    const assembled = assemble(genesis, [expired, fresh], (item) => item.blockhashSlot < 5);
    expect(assembled.expired).toEqual([expired]);
    expect(assembled.included).toEqual([fresh]);
  });

  it("builds an empty block when nothing waits", () => {
    const { block, included } = assemble(genesis, []);
    expect(included).toEqual([]);
    expect(block.header.entryCount).toBe(0);
    expect(block.header.transactionCount).toBe(0);
  });
});
