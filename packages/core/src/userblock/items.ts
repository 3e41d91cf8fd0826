import type { tx } from "@simd23/proto";
import type { Limits } from "../genesis.js";
import {
  decodeTransactionItem,
  itemComputeUnitLimit,
  itemTransactions,
  type ValidItem,
} from "../tx/index.js";
import { itemDigest } from "./digest.js";

/** An item of a UserBlock with what execution order needs to place it. */
export interface PositionedItem {
  /** The wire form, as received. */
  readonly item: tx.TransactionItem;
  /** The decoded, structurally valid item (signatures not checked). */
  readonly valid: ValidItem;
  /** What the entry mixin commits to ({@link itemDigest}). */
  readonly digest: Uint8Array;
  /** Σ computeUnitLimit of the item's transactions. */
  readonly computeUnits: number;
  readonly transactionCount: number;
  /** Index of the entry holding it. */
  readonly entryIndex: number;
  /** Index of the item in the block, counting items (a bundle is one) across entries. */
  readonly indexInBlock: number;
  /** The PoH position: the block's cumulative hash count at the end of its entry. */
  readonly pohPosition: number;
}

export type ItemRefusalReason = "MALFORMED" | "OVER_LIMIT";

export type InspectedItem =
  | {
      readonly ok: true;
      readonly valid: ValidItem;
      readonly digest: Uint8Array;
      readonly computeUnits: number;
      readonly transactionCount: number;
    }
  | { readonly ok: false; readonly reason: ItemRefusalReason; readonly detail: string };

/** Decodes an item and checks its shape and per-transaction limits; signatures are left to executors. */
export function inspectItem(item: tx.TransactionItem, limits: Limits): InspectedItem {
  const decoded = decodeTransactionItem(item, limits, { verifySignatures: false });
  if (!decoded.ok) {
    const { error } = decoded;
    const reason =
      error.code === "OVERSIZE" || error.code === "OVER_COMPUTE_LIMIT" ? "OVER_LIMIT" : "MALFORMED";
    return { ok: false, reason, detail: error.message };
  }
  return {
    ok: true,
    valid: decoded.value,
    digest: itemDigest(item),
    computeUnits: itemComputeUnitLimit(decoded.value),
    transactionCount: itemTransactions(decoded.value).length,
  };
}
