import type { tx, userblock } from "@simd23/proto";
import { concatBytes, u32le, u64le, utf8 } from "../bytes.js";
import { HASH_BYTES, sha256 } from "../hash.js";
import { PUBLIC_KEY_BYTES, signingInput } from "../keys.js";

/** Domain of a UserBlock's PoH start: sha256("simd23/userblock" ‖ proposer ‖ u32le(u)). */
export const USER_BLOCK_POH_DOMAIN = "simd23/userblock";
/** The proposer signs "simd23/userblock/v1" ‖ blockHash. */
export const USER_BLOCK_SIGNING_DOMAIN = "simd23/userblock/v1";
export const USER_BLOCK_HASH_DOMAIN = "simd23/userblock-hash/v1";
export const TRANSACTION_DIGEST_DOMAIN = "simd23/tx-digest/v1";
export const BUNDLE_DIGEST_DOMAIN = "simd23/bundle-digest/v1";
export const ENTRY_ITEMS_DOMAIN = "simd23/entry-items/v1";

const POH_DOMAIN_BYTES = utf8(USER_BLOCK_POH_DOMAIN);
const HASH_DOMAIN_BYTES = utf8(USER_BLOCK_HASH_DOMAIN);
const TRANSACTION_DOMAIN_BYTES = utf8(TRANSACTION_DIGEST_DOMAIN);
const BUNDLE_DOMAIN_BYTES = utf8(BUNDLE_DIGEST_DOMAIN);
const ITEMS_DOMAIN_BYTES = utf8(ENTRY_ITEMS_DOMAIN);

/** The hash a proposer's PoH for UserBlockSlot u starts from. */
export function userBlockPohStart(proposer: Uint8Array, userBlockSlot: number): Uint8Array {
  return sha256(POH_DOMAIN_BYTES, proposer, u32le(userBlockSlot));
}

/**
 * sha256("simd23/tx-digest/v1" ‖ u32le(|message|) ‖ message ‖ u32le(n) ‖
 * u32le(|sig_1|) ‖ sig_1 ‖ …): over the bytes as received, every length
 * prefixed, so distinct transactions never share a digest.
 */
export function transactionDigest(transaction: tx.Transaction): Uint8Array {
  const parts: Uint8Array[] = [
    TRANSACTION_DOMAIN_BYTES,
    u32le(transaction.message.length),
    transaction.message,
    u32le(transaction.signatures.length),
  ];
  for (const signature of transaction.signatures) parts.push(u32le(signature.length), signature);
  return sha256(...parts);
}

/** sha256("simd23/bundle-digest/v1" ‖ u32le(n) ‖ transactionDigest_1 ‖ … ‖ transactionDigest_n). */
export function bundleDigest(bundle: tx.Bundle): Uint8Array {
  return sha256(
    BUNDLE_DOMAIN_BYTES,
    u32le(bundle.transactions.length),
    ...bundle.transactions.map(transactionDigest),
  );
}

/** The digest of a UserBlock item; throws a TypeError on an item that is neither kind. */
export function itemDigest(item: tx.TransactionItem): Uint8Array {
  switch (item.item?.$case) {
    case "transaction":
      return transactionDigest(item.item.value);
    case "bundle":
      return bundleDigest(item.item.value);
    default:
      throw new TypeError("the item is neither a transaction nor a bundle");
  }
}

/**
 * The PoH mixin of an entry over items, given their digests:
 * sha256("simd23/entry-items/v1" ‖ digest_1 ‖ … ‖ digest_n); null for an entry
 * without items, which is plain hashing (a tick of the proposer's PoH).
 */
export function entryItemsMixin(digests: readonly Uint8Array[]): Uint8Array | null {
  return digests.length === 0 ? null : sha256(ITEMS_DOMAIN_BYTES, ...digests);
}

/**
 * The block hash: sha256("simd23/userblock-hash/v1" ‖ proposer ‖ u32le(u) ‖
 * u32le(numHashes) ‖ lastHash ‖ u32le(entryCount) ‖ u32le(transactionCount) ‖
 * u64le(computeUnits)). lastHash commits to every entry through the PoH.
 * Throws a RangeError when proposer or lastHash is not 32 bytes.
 */
export function userBlockHash(header: userblock.UserBlockHeader): Uint8Array {
  if (header.proposer.length !== PUBLIC_KEY_BYTES)
    throw new RangeError(`the proposer is ${header.proposer.length} bytes, not ${PUBLIC_KEY_BYTES}`);
  if (header.lastHash.length !== HASH_BYTES)
    throw new RangeError(`lastHash is ${header.lastHash.length} bytes, not ${HASH_BYTES}`);
  return sha256(
    HASH_DOMAIN_BYTES,
    concatBytes(
      header.proposer,
      u32le(header.userBlockSlot),
      u32le(header.numHashes),
      header.lastHash,
      u32le(header.entryCount),
      u32le(header.transactionCount),
      u64le(header.computeUnits),
    ),
  );
}

/** The bytes the proposer signs for a block. */
export function userBlockSigningInput(blockHash: Uint8Array): Uint8Array {
  return signingInput(USER_BLOCK_SIGNING_DOMAIN, blockHash);
}
