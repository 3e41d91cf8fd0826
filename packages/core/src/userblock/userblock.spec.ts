import { type tx, userblock } from "@simd23/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareBytes } from "../bytes.js";
import { sha256 } from "../hash.js";
import { type Keypair, signMessage } from "../keys.js";
import { bundleItem, fixtureGenesis, proposerKey, transferItem } from "../ledger/fixture.js";
import { hashChain } from "../poh/chain.js";
import { UserBlockBuilder } from "./builder.js";
import {
  checkUserBlock,
  userBlockComputeUnitLimit,
  userBlockHashLimit,
  type WellFormedUserBlock,
} from "./check.js";
import { userBlockHash, userBlockPohStart, userBlockSigningInput } from "./digest.js";

// Fixture timing: 4 ticks per UserBlockSlot at 4 proposer hashes per tick: 16 hashes per block.
const genesis = fixtureGenesis();
const proposer = proposerKey(0);
const active = [proposerKey(0).publicKey, proposerKey(1).publicKey].sort(compareBytes);
const U = 9;

function build(
  entries: readonly (readonly [number, readonly tx.TransactionItem[]])[],
  options: { userBlockSlot?: number; activeProposerCount?: number; keypair?: Keypair } = {},
): WellFormedUserBlock {
  const builder = new UserBlockBuilder({
    genesis,
    keypair: options.keypair ?? proposer,
    userBlockSlot: options.userBlockSlot ?? U,
    activeProposerCount: options.activeProposerCount ?? active.length,
  });
  for (const [numHashes, items] of entries) {
    const added = builder.addEntry(numHashes, items);
    if (!added.ok) throw new Error(`${added.reason}: ${added.detail}`);
  }
  return builder.finish();
}

/** Re-encodes a block with header changes, re-signed by `signer`: isolates one rule at a time. */
function resign(
  block: userblock.UserBlock,
  header: Partial<userblock.UserBlockHeader>,
  signer: Keypair = proposer,
  entries: userblock.BlockEntry[] = block.entries,
): Uint8Array {
  const newHeader = { ...block.header!, ...header };
  const signature = signMessage(signer, userBlockSigningInput(userBlockHash(newHeader)));
  return userblock.UserBlock.encode({ header: newHeader, entries, signature }).finish();
}

const sample = () =>
  build([
    [2, [transferItem(genesis, 0, 1)]],
    [3, []],
    [4, [bundleItem(genesis, 10, 2), transferItem(genesis, 1, 2, 5_000)]],
  ]);

describe("UserBlock build → hash → sign → check", () => {
  it("round-trips: the builder's bytes are the block's encoding and pass the check unchanged", () => {
    const built = sample();
    expect(built.bytes).toEqual(userblock.UserBlock.encode(built.block).finish());
    const checked = checkUserBlock(genesis, built.bytes, active);
    expect(checked).toEqual({ ok: true, block: built });
    expect(built.header).toMatchObject({
      proposer: proposer.publicKey,
      userBlockSlot: U,
      numHashes: 9,
      entryCount: 3,
      transactionCount: 4,
      computeUnits: 1_000n + 2_000n + 5_000n,
    });
    expect(built.blockHash).toEqual(userBlockHash(built.header));
  });

  it("positions each item at its entry's cumulative hash count, and indexes it in the block", () => {
    const positions = sample().items.map((i) => [
      i.item.item?.$case,
      i.entryIndex,
      i.indexInBlock,
      i.pohPosition,
    ]);
    expect(positions).toEqual([
      ["transaction", 0, 0, 2],
      ["bundle", 2, 1, 9],
      ["transaction", 2, 2, 9],
    ]);
    expect(sample().items[1]!.transactionCount).toBe(2);
  });

  it("accepts an empty block, whose last hash is its PoH start", () => {
    const empty = build([]);
    expect(empty.header.lastHash).toEqual(userBlockPohStart(proposer.publicKey, U));
    expect(checkUserBlock(genesis, empty.bytes, active).ok).toBe(true);
  });

  it("splits the slot's compute units over the UserBlocks of a slot, and bounds hashes by the slot's ticks", () => {
    expect(userBlockComputeUnitLimit(genesis.limits, 3)).toBe(48_000_000n / 6n);
    expect(userBlockComputeUnitLimit({ ...genesis.limits, maxSlotComputeUnits: 100n }, 3)).toBe(16n);
    expect(() => userBlockComputeUnitLimit(genesis.limits, 0)).toThrow(RangeError);
    expect(userBlockHashLimit(genesis.timing)).toBe(16);
  });
});

describe("UserBlock refusals", () => {
  const refusal = (bytes: Uint8Array, set: readonly Uint8Array[] = active, g = genesis) => {
    const checked = checkUserBlock(g, bytes, set);
    return checked.ok ? "ok" : checked.reason;
  };

  it("MALFORMED: bytes that do not decode, a missing header, a header that does not match its entries", () => {
    const built = sample();
    expect(refusal(Uint8Array.of(0xff, 0xff))).toBe("MALFORMED");
    expect(
      refusal(
        userblock.UserBlock.encode({
          header: undefined,
          entries: [],
          signature: built.block.signature,
        }).finish(),
      ),
    ).toBe("MALFORMED");
    // A non-canonical encoding of the same block: the first entry's key written as a two-byte varint.
    const entryKeyAt = built.bytes.indexOf(0x12, 2 + built.bytes[1]!);
    const padded = Uint8Array.from([
      ...built.bytes.subarray(0, entryKeyAt),
      0x92,
      0x00,
      ...built.bytes.subarray(entryKeyAt + 1),
    ]);
    expect(userblock.UserBlock.decode(padded)).toEqual(built.block);
    expect(refusal(padded)).toBe("MALFORMED");
    for (const header of [
      { transactionCount: 5 },
      { entryCount: 2 },
      { numHashes: 10 },
      { computeUnits: 1n },
      { lastHash: new Uint8Array(32) },
    ]) {
      expect(refusal(resign(built.block, header))).toBe("MALFORMED");
    }
  });

  it("MALFORMED: an entry without hashes, an item that is neither kind, an oversized bundle", () => {
    const built = sample();
    const entries = (change: (e: userblock.BlockEntry[]) => void) => {
      const copy = built.block.entries.map((e) => ({ ...e, items: [...e.items] }));
      change(copy);
      return resign(built.block, {}, proposer, copy);
    };
    expect(refusal(entries((e) => (e[1]!.numHashes = 0)))).toBe("MALFORMED");
    expect(refusal(entries((e) => e[0]!.items.push({ item: undefined })))).toBe("MALFORMED");
    const six = bundleItem(fixtureGenesis({ limits: { maxBundleTransactions: 6 } }), 20, 6);
    expect(refusal(entries((e) => (e[0]!.items = [six])))).toBe("MALFORMED");
  });

  it("UNSCHEDULED: a proposer outside the active set of its UserBlockSlot", () => {
    expect(refusal(sample().bytes, [proposerKey(2).publicKey])).toBe("UNSCHEDULED");
    expect(refusal(sample().bytes, [])).toBe("UNSCHEDULED");
  });

  it("BAD_SIGNATURE: a block hash not signed by the header's proposer", () => {
    const built = sample();
    expect(refusal(resign(built.block, {}, proposerKey(1)))).toBe("BAD_SIGNATURE");
  });

  it("BAD_POH: an entry hash that does not follow from its predecessor", () => {
    const built = sample();
    const entries = built.block.entries.map((e) => ({ ...e }));
    entries[0] = { ...entries[0]!, hash: sha256(entries[0]!.hash) };
    expect(refusal(userblock.UserBlock.encode({ ...built.block, entries }).finish())).toBe("BAD_POH");
    // A block claiming hashes it did not do (the header matches, the chain does not).
    const forged = build([[4, []]]);
    const longer = [{ numHashes: 5, hash: forged.block.entries[0]!.hash, items: [] }];
    expect(refusal(resign(forged.block, { numHashes: 5 }, proposer, longer))).toBe("BAD_POH");
  });

  it("OVER_LIMIT: bytes, compute units, PoH hashes, a transaction over its own limit", () => {
    const built = sample();
    const small = { maxUserBlockBytes: built.bytes.length - 1, maxTransactionBytes: 300 };
    expect(refusal(built.bytes, active, fixtureGenesis({ limits: small }))).toBe("OVER_LIMIT");
    const tight = fixtureGenesis({
      limits: { maxSlotComputeUnits: 48_000n, maxTransactionComputeUnits: 6_000 },
    });
    const three = [...active, proposerKey(2).publicKey];
    // 8,000 CU against floor(48,000 / (2·3)) = 8,000 passes; against floor(48,000 / (2·4)) = 6,000 it does not.
    expect(refusal(built.bytes, three, tight)).toBe("ok");
    expect(refusal(built.bytes, [...three, proposerKey(3).publicKey], tight)).toBe("OVER_LIMIT");
    expect(
      refusal(built.bytes, active, fixtureGenesis({ limits: { maxTransactionComputeUnits: 4_000 } })),
    ).toBe("OVER_LIMIT");
    const tooLong = [
      { numHashes: 17, hash: hashChain(userBlockPohStart(proposer.publicKey, U), 17), items: [] },
    ];
    expect(refusal(resign(built.block, { numHashes: 17, entryCount: 1 }, proposer, tooLong))).toBe(
      "OVER_LIMIT",
    );
  });

  it("WRONG_SLOT and WRONG_HASH: a block that is not the one the caller expects", () => {
    const built = sample();
    const wrongSlot = checkUserBlock(genesis, built.bytes, active, { userBlockSlot: U + 1 });
    expect(wrongSlot).toMatchObject({ ok: false, reason: "WRONG_SLOT" });
    const wrongHash = checkUserBlock(genesis, built.bytes, active, { blockHash: new Uint8Array(32) });
    expect(wrongHash).toMatchObject({ ok: false, reason: "WRONG_HASH" });
    const right = checkUserBlock(genesis, built.bytes, active, {
      userBlockSlot: U,
      blockHash: built.blockHash,
    });
    expect(right.ok).toBe(true);
  });

  it("refuses any single-byte change to a built block", () => {
    const built = sample();
    fc.assert(
      fc.property(fc.nat({ max: built.bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, delta) => {
        const changed = built.bytes.slice();
        changed[at] = changed[at]! ^ delta;
        expect(checkUserBlock(genesis, changed, active).ok).toBe(false);
      }),
      { numRuns: 1_000 },
    );
  });
});

describe("UserBlockBuilder limits", () => {
  const builder = (overrides: Parameters<typeof fixtureGenesis>[0] = {}, activeProposerCount = 2) =>
    new UserBlockBuilder({
      genesis: fixtureGenesis(overrides),
      keypair: proposer,
      userBlockSlot: U,
      activeProposerCount,
    });

  it("refuses an entry over the hash budget and changes nothing", () => {
    const b = builder();
    expect(b.addEntry(10, []).ok).toBe(true);
    expect(b.addEntry(7, [])).toMatchObject({ ok: false, reason: "OVER_LIMIT" });
    expect(b.numHashes).toBe(10);
    expect(b.remainingHashes).toBe(6);
    expect(b.addEntry(6, []).ok).toBe(true);
  });

  it("refuses items over the block's compute units and changes nothing", () => {
    const b = builder({ limits: { maxSlotComputeUnits: 8_000n, maxTransactionComputeUnits: 2_000 } });
    expect(b.computeUnitLimit).toBe(2_000n);
    expect(b.addEntry(1, [transferItem(genesis, 0, 1, 1_500)]).ok).toBe(true);
    const over = b.addEntry(1, [transferItem(genesis, 0, 2, 600)]);
    expect(over).toMatchObject({ ok: false, reason: "OVER_LIMIT" });
    expect(b.computeUnits).toBe(1_500n);
    expect(b.remainingComputeUnits).toBe(500n);
    expect(b.entryCount).toBe(1);
  });

  it("refuses an entry over the byte limit, keeping room for the header and signature", () => {
    const b = builder({ limits: { maxUserBlockBytes: 1_232 } });
    let added = 0;
    while (b.addEntry(1, [transferItem(genesis, 0, added)]).ok) added++;
    const block = b.finish();
    expect(added).toBeGreaterThan(0);
    expect(block.bytes.length).toBeLessThanOrEqual(1_232);
    expect(
      checkUserBlock(fixtureGenesis({ limits: { maxUserBlockBytes: 1_232 } }), block.bytes, active).ok,
    ).toBe(true);
  });

  it("refuses a malformed item, and misuse", () => {
    const b = builder();
    expect(b.addEntry(1, [{ item: undefined }])).toMatchObject({ ok: false, reason: "MALFORMED" });
    expect(b.entryCount).toBe(0);
    expect(() => b.addEntry(0, [])).toThrow(RangeError);
    b.finish();
    expect(() => b.addEntry(1, [])).toThrow(/finished/);
    expect(() => b.finish()).toThrow(/finished/);
  });
});
