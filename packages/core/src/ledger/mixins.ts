import type { ledger, tx, vote } from "@simd23/proto";
import { u32le, utf8 } from "../bytes.js";
import { EnvelopeKind, envelopeSigningInput } from "../envelope/index.js";
import { HASH_BYTES, sha256 } from "../hash.js";
import { PUBLIC_KEY_BYTES } from "../keys.js";
import { entryItemsMixin, itemDigest } from "../userblock/digest.js";

export const VOTE_ENTRY_DOMAIN = "simd23/ledger/vote-entry/v1";
export const USER_BLOCK_ENTRY_DOMAIN = "simd23/ledger/userblock-entry/v1";
export const MEMBERSHIP_ENTRY_DOMAIN = "simd23/ledger/membership-entry/v1";

const VOTE_DOMAIN_BYTES = utf8(VOTE_ENTRY_DOMAIN);
const USER_BLOCK_DOMAIN_BYTES = utf8(USER_BLOCK_ENTRY_DOMAIN);
const MEMBERSHIP_DOMAIN_BYTES = utf8(MEMBERSHIP_ENTRY_DOMAIN);

/** sha256(u32le(|vote|) ‖ vote ‖ signature): a signed vote as the leader received it. */
export function signedVoteDigest(signed: vote.SignedVote): Uint8Array {
  return sha256(u32le(signed.vote.length), signed.vote, signed.signature);
}

/** sha256("simd23/ledger/vote-entry/v1" ‖ u32le(n) ‖ signedVoteDigest_1 ‖ … ‖ signedVoteDigest_n). */
export function voteEntryMixin(votes: readonly vote.SignedVote[]): Uint8Array {
  return sha256(VOTE_DOMAIN_BYTES, u32le(votes.length), ...votes.map(signedVoteDigest));
}

/**
 * sha256("simd23/ledger/userblock-entry/v1" ‖ blockHash ‖ proposer ‖ u32le(u)):
 * the PoH commits to the block and to whom and which UserBlockSlot it is
 * recorded for. Throws a RangeError when blockHash or proposer is not 32 bytes.
 */
export function userBlockEntryMixin(entry: ledger.UserBlockEntry): Uint8Array {
  if (entry.blockHash.length !== HASH_BYTES || entry.proposer.length !== PUBLIC_KEY_BYTES)
    throw new RangeError("a UserBlockEntry holds a 32-byte block hash and a 32-byte proposer");
  return sha256(USER_BLOCK_DOMAIN_BYTES, entry.blockHash, entry.proposer, u32le(entry.userBlockSlot));
}

/** sha256("simd23/ledger/membership-entry/v1" ‖ u32le(|request|) ‖ request ‖ signature): the signed request. */
export function membershipEntryMixin(entry: ledger.MembershipEntry): Uint8Array {
  return sha256(MEMBERSHIP_DOMAIN_BYTES, u32le(entry.request.length), entry.request, entry.signature);
}

/**
 * What a proposer signs to ask to join or leave: the bus envelope of kind
 * MEMBERSHIP_REQUEST around the encoded ledger.MembershipRequest, so the
 * envelope's signature is the one the leader records.
 */
export function membershipRequestSigningInput(request: Uint8Array): Uint8Array {
  return envelopeSigningInput(EnvelopeKind.KIND_MEMBERSHIP_REQUEST, request);
}

/** The items mixin of a sync-mode TransactionEntry (the same as a UserBlock entry's). */
export function transactionEntryMixin(items: readonly tx.TransactionItem[]): Uint8Array | null {
  return entryItemsMixin(items.map(itemDigest));
}
