export {
  type BookRefusalReason,
  type DroppedUserBlock,
  type EquivocationEvidence,
  type OfferResult,
  type RecordableUserBlockSlot,
  RecordingBook,
  type RecordingBookOptions,
  type SignedUserBlockHeader,
  type TakeResult,
  verifyEquivocationEvidence,
} from "./book.js";
export { type AddEntryResult, UserBlockBuilder, type UserBlockBuilderOptions } from "./builder.js";
export {
  checkUserBlock,
  type UserBlockCheck,
  type UserBlockExpectation,
  type UserBlockRefusalReason,
  userBlockComputeUnitLimit,
  userBlockHashLimit,
  type WellFormedUserBlock,
} from "./check.js";
export {
  BUNDLE_DIGEST_DOMAIN,
  bundleDigest,
  ENTRY_ITEMS_DOMAIN,
  entryItemsMixin,
  itemDigest,
  TRANSACTION_DIGEST_DOMAIN,
  transactionDigest,
  USER_BLOCK_HASH_DOMAIN,
  USER_BLOCK_POH_DOMAIN,
  USER_BLOCK_SIGNING_DOMAIN,
  userBlockHash,
  userBlockPohStart,
  userBlockSigningInput,
} from "./digest.js";
export type { ItemRefusalReason, PositionedItem } from "./items.js";
