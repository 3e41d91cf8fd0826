import { vote } from "@simd23/proto";
import { bytesEqual, concatBytes, utf8 } from "../bytes.js";
import type { Genesis } from "../genesis.js";
import { HASH_BYTES } from "../hash.js";
import { type Keypair, SIGNATURE_BYTES, signMessage, verifySignature } from "../keys.js";
import { stakeTableOf } from "./stake.js";
import { type Tower, towerOfVote, towerShapeProblem } from "./tower.js";

export type Vote = vote.Vote;
export type SignedVote = vote.SignedVote;

/** The signing domain of votes: the signature covers "simd23/vote/v1" ‖ the encoded vote. */
export const VOTE_DOMAIN = "simd23/vote/v1";
const VOTE_DOMAIN_BYTES = utf8(VOTE_DOMAIN);

export function voteSigningInput(voteBytes: Uint8Array): Uint8Array {
  return concatBytes(VOTE_DOMAIN_BYTES, voteBytes);
}

/** The newest BankHash a validator computed, as the copy-resistant commitment sha256(BankHash ‖ validator). */
export interface BankHashClaim {
  readonly slot: number;
  readonly commitment: Uint8Array;
}

export interface VoteInput {
  readonly validator: Uint8Array;
  /** The tower vote slot and its last PoH hash. */
  readonly slot: number;
  readonly slotHash: Uint8Array;
  /** The tower after this vote ({@link recordTowerVote}). */
  readonly tower: Tower;
  readonly bankHash: BankHashClaim | null;
  readonly timestampMs: number;
}

/** A vote message; unset optional parts are zero, as {@link verifySignedVote} requires. */
export function buildVote(input: VoteInput): Vote {
  return {
    validator: input.validator,
    slot: input.slot,
    slotHash: input.slotHash,
    tower: input.tower.lockouts.map((l) => ({ slot: l.slot, confirmationCount: l.confirmationCount })),
    root: input.tower.root ?? 0,
    hasRoot: input.tower.root !== null,
    bankHashSlot: input.bankHash?.slot ?? 0,
    bankHashCommitment: input.bankHash?.commitment ?? new Uint8Array(0),
    hasBankHash: input.bankHash !== null,
    timestampMs: BigInt(input.timestampMs),
  };
}

/** Encodes and signs a vote. Throws a RangeError when the keypair is not the vote's validator. */
export function signVote(keypair: Keypair, v: Vote): SignedVote {
  if (!bytesEqual(keypair.publicKey, v.validator))
    throw new RangeError("a vote is signed by its own validator");
  const bytes = vote.Vote.encode(v).finish();
  return { vote: bytes, signature: signMessage(keypair, voteSigningInput(bytes)) };
}

export function encodeSignedVote(signed: SignedVote): Uint8Array {
  return vote.SignedVote.encode(signed).finish();
}

export type VoteErrorCode = "malformed" | "unknown-validator" | "bad-signature" | "invalid-tower";

export class VoteError extends Error {
  constructor(
    readonly code: VoteErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "VoteError";
  }
}

export interface VerifiedVote {
  readonly vote: Vote;
  /** The signed form it arrived in, byte for byte (evidence for a mismatch). */
  readonly signed: SignedVote;
  readonly validatorIndex: number;
  readonly stake: bigint;
  readonly tower: Tower;
  readonly bankHash: BankHashClaim | null;
}

export type DecodeSignedVoteResult =
  | { readonly ok: true; readonly signed: SignedVote }
  | { readonly ok: false; readonly error: VoteError };

export type VerifyVoteResult =
  | { readonly ok: true; readonly vote: VerifiedVote }
  | { readonly ok: false; readonly error: VoteError };

export function decodeSignedVote(bytes: Uint8Array): DecodeSignedVoteResult {
  try {
    return { ok: true, signed: vote.SignedVote.decode(bytes) };
  } catch (error) {
    return {
      ok: false,
      error: new VoteError("malformed", `signed vote does not decode: ${(error as Error).message}`),
    };
  }
}

const refuse = (code: VoteErrorCode, message: string): VerifyVoteResult => ({
  ok: false,
  error: new VoteError(code, message),
});

// Every field has one encoding: an absent root or BankHash is zero, so two signed votes that say
// the same thing are the same bytes.
function shapeProblem(v: Vote): string | null {
  if (v.slotHash.length !== HASH_BYTES)
    return `slot hash is ${v.slotHash.length} bytes, expected ${HASH_BYTES}`;
  if (!v.hasRoot && v.root !== 0) return "root is set without has_root";
  if (v.hasBankHash) {
    if (v.bankHashCommitment.length !== HASH_BYTES)
      return `BankHash commitment is ${v.bankHashCommitment.length} bytes, expected ${HASH_BYTES}`;
  } else if (v.bankHashSlot !== 0 || v.bankHashCommitment.length !== 0) {
    return "BankHash slot or commitment is set without has_bank_hash";
  }
  return null;
}

/**
 * Decodes and checks a signed vote against genesis: it decodes, its fields are well-formed, its
 * validator is a genesis validator, the signature verifies over "simd23/vote/v1" ‖ vote, and its
 * tower has a shape honest voting produces ({@link towerShapeProblem}).
 */
export function verifySignedVote(genesis: Genesis, input: Uint8Array | SignedVote): VerifyVoteResult {
  let signed: SignedVote;
  if (input instanceof Uint8Array) {
    const decoded = decodeSignedVote(input);
    if (!decoded.ok) return decoded;
    signed = decoded.signed;
  } else {
    signed = input;
  }
  if (signed.signature.length !== SIGNATURE_BYTES)
    return refuse("malformed", `signature is ${signed.signature.length} bytes, expected ${SIGNATURE_BYTES}`);
  let v: Vote;
  try {
    v = vote.Vote.decode(signed.vote);
  } catch (error) {
    return refuse("malformed", `vote does not decode: ${(error as Error).message}`);
  }
  const problem = shapeProblem(v);
  if (problem !== null) return refuse("malformed", problem);
  const stakes = stakeTableOf(genesis);
  const validatorIndex = stakes.indexOf(v.validator);
  if (validatorIndex < 0) return refuse("unknown-validator", "the voter is not a genesis validator");
  if (!verifySignature(v.validator, voteSigningInput(signed.vote), signed.signature))
    return refuse("bad-signature", `vote on slot ${v.slot} does not verify for its validator`);
  const tower = towerOfVote(v);
  const towerProblem = towerShapeProblem(tower, v.slot, genesis.timing.maxLockoutHistory);
  if (towerProblem !== null) return refuse("invalid-tower", towerProblem);
  return {
    ok: true,
    vote: {
      vote: v,
      signed,
      validatorIndex,
      stake: stakes.stakeAt(validatorIndex),
      tower,
      bankHash: v.hasBankHash ? { slot: v.bankHashSlot, commitment: v.bankHashCommitment } : null,
    },
  };
}
