export {
  type OpenedBankHashReport,
  type OpenedMismatchReport,
  type OpenedVote,
  openBankHashReportMessage,
  openMismatchReportMessage,
  openVoteMessage,
  type RefusedMessage,
} from "./consensus-messages.js";
export { HaltWatch, type HaltWatchOptions } from "./halt-watch.js";
export {
  faucetKeypair,
  IdentityError,
  leaderKeypair,
  loadGenesis,
  proposerKeypair,
  validatorKeypair,
  verifierKeypair,
} from "./identity.js";
export {
  intakePoolIndex,
  type OpenedIntake,
  type OpenedIntakeItem,
  openEnvelopeOffLoop,
  openIntakeItemMessage,
  openIntakeItemOffLoop,
  sealIntakeItem,
} from "./intake-items.js";
export {
  type ArrivingEntry,
  type DeadSlot,
  type FollowedSlot,
  LedgerFollower,
  type LedgerFollowerOptions,
} from "./ledger-follower.js";
export {
  COMMON_REFUSAL_REASONS,
  MessageRefusals,
  type MessageRefusalsOptions,
  refusalLabel,
} from "./message-refusals.js";
export { PriorityQueue } from "./priority-queue.js";
export { ProposerDirectory, type ProposerEntry } from "./proposer-directory.js";
export { SignedPublisher } from "./publisher.js";
export {
  type BankHashMismatch,
  type ExecutedSlot,
  proposerIdentitiesHex,
  type RepairEvent,
  ReplayPipeline,
  type ReplayPipelineOptions,
  type TrackedSlot,
  type UserBlockArrival,
} from "./replay-pipeline.js";
export {
  preverifyItemSignatures,
  preverifySignatures,
  verifySignatureOffLoop,
  verifyTransactionOffLoop,
} from "./signature-check.js";
export { SnapshotStore, type StoredSnapshot } from "./snapshot-store.js";
export { type ProgressLevelName, StatusIndex, type StatusIndexOptions, toStatus } from "./status-index.js";
export { subjects } from "./subjects.js";
export {
  type UserBlockFetch,
  type UserBlockRef,
  UserBlockSource,
  type UserBlockSourceKind,
  type UserBlockSourceOptions,
} from "./user-blocks.js";
