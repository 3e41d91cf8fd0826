export { type Recording, SlotBuilder } from "./builder.js";
export { type ChainState, createLedgerContext, genesisChainState, type LedgerContext } from "./context.js";
export {
  MEMBERSHIP_ENTRY_DOMAIN,
  membershipEntryMixin,
  membershipRequestSigningInput,
  signedVoteDigest,
  transactionEntryMixin,
  USER_BLOCK_ENTRY_DOMAIN,
  userBlockEntryMixin,
  VOTE_ENTRY_DOMAIN,
  voteEntryMixin,
} from "./mixins.js";
export {
  type MembershipChangeRecord,
  type MembershipViolationReason,
  type RecordedUserBlockSlot,
  type SlotRecord,
  type SlotReplay,
  type SlotViolation,
  type SlotViolationCode,
  SlotViolationError,
  type TransactionEntryRecord,
  type UserBlockEntryRecord,
  type VoteEntryRecord,
} from "./record.js";
export {
  type AsyncPohVerifier,
  type DecodedLedgerMessage,
  decodeLedgerMessage,
  type GroupedSlot,
  groupSlotMessages,
  type PohVerifier,
  replaySlot,
  replaySlotAsync,
  type SlotMessages,
} from "./replay.js";
