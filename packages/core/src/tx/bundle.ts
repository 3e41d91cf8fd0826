import { tx } from "@simd23/proto";
import { bytesEqual } from "../bytes.js";
import type { Limits } from "../genesis.js";
import { type FeeRate, feeRateOf } from "./fee.js";
import {
  type DecodeOptions,
  type DecodeResult,
  decodeTransaction,
  TransactionError,
  type TransactionLimits,
  type ValidTransaction,
  varintSize,
} from "./transaction.js";

/** The limits a bundle is checked against (a genesis's `limits` satisfies it). */
export type BundleLimits = TransactionLimits & Pick<Limits, "maxBundleTransactions">;

/** 1..maxBundleTransactions valid transactions with distinct ids, executed together, in order, atomically. */
export interface ValidBundle {
  readonly transactions: readonly ValidTransaction[];
  /** Σ computeUnitLimit. */
  readonly computeUnitLimit: number;
  /** Σ price_i·limit_i / Σ limit_i. */
  readonly feeRate: FeeRate;
}

/** One unit of execution order: a single transaction or a bundle. */
export type ValidItem =
  | { readonly kind: "transaction"; readonly transaction: ValidTransaction }
  | { readonly kind: "bundle"; readonly bundle: ValidBundle };

/** The largest encoded tx.Bundle that can be valid: each transaction at the size limit, with its field header. */
export function maxBundleBytes(limits: BundleLimits): number {
  return (
    limits.maxBundleTransactions * (1 + varintSize(limits.maxTransactionBytes) + limits.maxTransactionBytes)
  );
}

/**
 * Validates a bundle: its size, distinct ids and every transaction (an error
 * names the offending transaction's index). Never throws.
 */
export function decodeBundle(
  input: Uint8Array | tx.Bundle,
  limits: BundleLimits,
  options: DecodeOptions = {},
): DecodeResult<ValidBundle> {
  let bundle: tx.Bundle;
  if (input instanceof Uint8Array) {
    if (input.length > maxBundleBytes(limits)) {
      const detail = `${input.length} bytes, more than ${limits.maxBundleTransactions} transactions of at most ${limits.maxTransactionBytes} bytes`;
      return { ok: false, error: new TransactionError("OVERSIZE", detail) };
    }
    try {
      bundle = tx.Bundle.decode(input);
    } catch (error) {
      return {
        ok: false,
        error: new TransactionError("MALFORMED", `not a bundle: ${(error as Error).message}`),
      };
    }
    if (!bytesEqual(tx.Bundle.encode(bundle).finish(), input))
      return { ok: false, error: new TransactionError("MALFORMED", "the bundle encoding is not canonical") };
  } else bundle = input;
  const count = bundle.transactions.length;
  if (count === 0 || count > limits.maxBundleTransactions) {
    const detail = `a bundle holds 1 to ${limits.maxBundleTransactions} transactions, this one ${count}`;
    return { ok: false, error: new TransactionError("MALFORMED", detail) };
  }
  const transactions: ValidTransaction[] = [];
  const ids = new Set<string>();
  for (const [i, wire] of bundle.transactions.entries()) {
    const decoded = decodeTransaction(wire, limits, options);
    if (!decoded.ok) {
      const { error } = decoded;
      return { ok: false, error: new TransactionError(error.code, error.detail, i) };
    }
    const id = Buffer.from(decoded.value.id).toString("latin1");
    if (ids.has(id))
      return { ok: false, error: new TransactionError("MALFORMED", "the id appears twice in the bundle", i) };
    ids.add(id);
    transactions.push(decoded.value);
  }
  return {
    ok: true,
    value: {
      transactions,
      computeUnitLimit: transactions.reduce((sum, t) => sum + t.computeUnitLimit, 0),
      feeRate: feeRateOf(transactions),
    },
  };
}

/** Validates a UserBlock item (a transaction or a bundle). Never throws. */
export function decodeTransactionItem(
  item: tx.TransactionItem,
  limits: BundleLimits,
  options: DecodeOptions = {},
): DecodeResult<ValidItem> {
  switch (item.item?.$case) {
    case "transaction": {
      const decoded = decodeTransaction(item.item.value, limits, options);
      return decoded.ok ? { ok: true, value: { kind: "transaction", transaction: decoded.value } } : decoded;
    }
    case "bundle": {
      const decoded = decodeBundle(item.item.value, limits, options);
      return decoded.ok ? { ok: true, value: { kind: "bundle", bundle: decoded.value } } : decoded;
    }
    default:
      return {
        ok: false,
        error: new TransactionError("MALFORMED", "the item is neither a transaction nor a bundle"),
      };
  }
}

/** The transactions of an item, in execution order. */
export function itemTransactions(item: ValidItem): readonly ValidTransaction[] {
  return item.kind === "transaction" ? [item.transaction] : item.bundle.transactions;
}

/** Σ computeUnitLimit of an item: what it counts against a UserBlock's compute budget. */
export function itemComputeUnitLimit(item: ValidItem): number {
  return item.kind === "transaction" ? item.transaction.computeUnitLimit : item.bundle.computeUnitLimit;
}

/** Σ encoded size of an item's transactions. */
export function itemSizeBytes(item: ValidItem): number {
  return itemTransactions(item).reduce((sum, t) => sum + t.sizeBytes, 0);
}

/** The priority fee rate an item is ordered by. */
export function itemFeeRate(item: ValidItem): FeeRate {
  return item.kind === "transaction" ? feeRateOf([item.transaction]) : item.bundle.feeRate;
}
