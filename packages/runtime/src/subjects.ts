import { toHex } from "@simd23/core";

/**
 * The subjects of the shared streams (docs/architecture.md), relative to the
 * testnet's namespace. Keys and hashes appear in hex so a subject can name
 * exactly one UserBlock or one validator.
 */
export const subjects = {
  userBlock: (userBlockSlot: number, proposer: Uint8Array, blockHash: Uint8Array): string =>
    `userblocks.${userBlockSlot}.${toHex(proposer)}.${toHex(blockHash)}`,
  allUserBlocks: "userblocks.>",
  ledgerSlot: (slot: number): string => `ledger.${slot}`,
  allLedger: "ledger.>",
  vote: (validator: Uint8Array): string => `votes.${toHex(validator)}`,
  allVotes: "votes.>",
  bankHashReport: (validator: Uint8Array): string => `bankhashes.report.${toHex(validator)}`,
  allBankHashReports: "bankhashes.report.>",
  verdicts: "bankhashes.verdict",
  membership: "control.membership",
  mismatch: "control.mismatch",
  halt: "control.halt",
  equivocation: "control.equivocation",
  intake: (poolIndex: number): string => `intake.${poolIndex}`,
} as const;
