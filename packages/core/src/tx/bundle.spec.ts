import { tx } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { concatBytes, utf8 } from "../bytes.js";
import { DEFAULT_LIMITS } from "../genesis.js";
import { sha256 } from "../hash.js";
import { keypairFromSeed } from "../keys.js";
import {
  decodeBundle,
  decodeTransactionItem,
  itemComputeUnitLimit,
  itemFeeRate,
  itemSizeBytes,
  itemTransactions,
  maxBundleBytes,
} from "./bundle.js";
import { compareFeeRates } from "./fee.js";
import { buildTransaction, transferInstruction, type ValidTransaction } from "./transaction.js";

const payer = keypairFromSeed(new Uint8Array(32).fill(9));
const blockhash = sha256(utf8("blockhash"));

function transaction(nonce: number, computeUnitLimit = 1_000, computeUnitPrice = 1n): ValidTransaction {
  return buildTransaction(
    {
      recentBlockhash: blockhash,
      computeUnitLimit,
      computeUnitPrice,
      instructions: [transferInstruction(0, sha256(utf8(`to ${nonce}`)), BigInt(nonce + 1))],
    },
    [payer],
    DEFAULT_LIMITS,
  );
}

const bundleOf = (...ts: ValidTransaction[]): tx.Bundle => ({ transactions: ts.map((t) => t.wire) });

describe("decodeBundle", () => {
  it("accepts 1 to maxBundleTransactions transactions and sums their limits", () => {
    const decoded = decodeBundle(bundleOf(transaction(1, 100, 10n), transaction(2, 300, 2n)), DEFAULT_LIMITS);
    expect(decoded.ok).toBe(true);
    if (!decoded.ok) return;
    expect(decoded.value.computeUnitLimit).toBe(400);
    expect(decoded.value.feeRate).toEqual({ microLamports: 1_600n, computeUnits: 400n });
    const five = decodeBundle(bundleOf(...[1, 2, 3, 4, 5].map((n) => transaction(n))), DEFAULT_LIMITS);
    expect(five.ok).toBe(true);
  });

  it("rejects an empty bundle and one over the limit", () => {
    const empty = decodeBundle({ transactions: [] }, DEFAULT_LIMITS);
    expect(!empty.ok && empty.error.code).toBe("MALFORMED");
    const six = decodeBundle(bundleOf(...[1, 2, 3, 4, 5, 6].map((n) => transaction(n))), DEFAULT_LIMITS);
    expect(!six.ok && six.error.detail).toMatch(/1 to 5 transactions, this one 6/);
  });

  it("rejects a repeated id and names its index", () => {
    const t = transaction(1);
    const decoded = decodeBundle(bundleOf(transaction(2), t, t), DEFAULT_LIMITS);
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.error.code).toBe("MALFORMED");
    expect(decoded.error.index).toBe(2);
    expect(decoded.error.message).toBe("MALFORMED: transaction 2: the id appears twice in the bundle");
  });

  it("passes on the code of an invalid transaction with its index", () => {
    const bad: tx.Transaction = { ...transaction(3).wire, signatures: [new Uint8Array(64)] };
    const decoded = decodeBundle({ transactions: [transaction(1).wire, bad] }, DEFAULT_LIMITS);
    expect(!decoded.ok && [decoded.error.code, decoded.error.index]).toEqual(["BAD_SIGNATURE", 1]);
    expect(
      decodeBundle({ transactions: [transaction(1).wire, bad] }, DEFAULT_LIMITS, { verifySignatures: false })
        .ok,
    ).toBe(true);
  });

  it("decodes bytes, canonical only, and refuses oversize input before decoding", () => {
    const bytes = tx.Bundle.encode(bundleOf(transaction(1), transaction(2))).finish();
    expect(decodeBundle(bytes, DEFAULT_LIMITS).ok).toBe(true);
    const padded = decodeBundle(concatBytes(bytes, Uint8Array.of(0x10, 0x01)), DEFAULT_LIMITS);
    expect(!padded.ok && padded.error.detail).toMatch(/not canonical/);
    const huge = decodeBundle(new Uint8Array(maxBundleBytes(DEFAULT_LIMITS) + 1), DEFAULT_LIMITS);
    expect(!huge.ok && huge.error.code).toBe("OVERSIZE");
    const junk = decodeBundle(Uint8Array.of(0x0a, 0x7f), DEFAULT_LIMITS);
    expect(!junk.ok && junk.error.code).toBe("MALFORMED");
    expect(maxBundleBytes(DEFAULT_LIMITS)).toBe(5 * (1 + 2 + 1232));
  });
});

describe("items", () => {
  it("decodes transaction and bundle items and reports their CU, size and rate", () => {
    const single = transaction(1, 2_000, 3n);
    const asItem = decodeTransactionItem(
      { item: { $case: "transaction", value: single.wire } },
      DEFAULT_LIMITS,
    );
    expect(asItem.ok).toBe(true);
    if (!asItem.ok) return;
    expect(itemTransactions(asItem.value).map((t) => t.id)).toEqual([single.id]);
    expect(itemComputeUnitLimit(asItem.value)).toBe(2_000);
    expect(itemSizeBytes(asItem.value)).toBe(single.sizeBytes);
    expect(compareFeeRates(itemFeeRate(asItem.value), { microLamports: 3n, computeUnits: 1n })).toBe(0);

    const a = transaction(2, 100, 10n);
    const b = transaction(3, 300, 2n);
    const asBundle = decodeTransactionItem(
      { item: { $case: "bundle", value: bundleOf(a, b) } },
      DEFAULT_LIMITS,
    );
    expect(asBundle.ok).toBe(true);
    if (!asBundle.ok) return;
    expect(itemTransactions(asBundle.value).map((t) => t.id)).toEqual([a.id, b.id]);
    expect(itemComputeUnitLimit(asBundle.value)).toBe(400);
    expect(itemSizeBytes(asBundle.value)).toBe(a.sizeBytes + b.sizeBytes);
    expect(compareFeeRates(itemFeeRate(asBundle.value), { microLamports: 4n, computeUnits: 1n })).toBe(0);
  });

  it("rejects an empty item", () => {
    const decoded = decodeTransactionItem({ item: undefined }, DEFAULT_LIMITS);
    expect(!decoded.ok && decoded.error.code).toBe("MALFORMED");
  });
});
