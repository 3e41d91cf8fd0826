import { vote as pb } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { toHex, utf8 } from "../bytes.js";
import { createTestnetGenesis, KEY_ROLES } from "../genesis.js";
import { sha256 } from "../hash.js";
import { deriveKeypair, verifySignature } from "../keys.js";
import {
  buildVote,
  decodeSignedVote,
  encodeSignedVote,
  signVote,
  type VerifyVoteResult,
  verifySignedVote,
  voteSigningInput,
} from "./vote.js";

const clusterSeed = new Uint8Array(32).fill(31);
const genesis = createTestnetGenesis({
  clusterName: "votes",
  clusterSeed,
  startTimeMs: 0n,
  validators: 2,
  stake: [7n, 5n],
  proposerPool: 1,
});
const voter = deriveKeypair(clusterSeed, KEY_ROLES.validator, 1);
const other = deriveKeypair(clusterSeed, KEY_ROLES.validator, 0);
const slotHash = sha256(utf8("slot 9"));
const bankHash = sha256(utf8("bank 7"));

const sample = () =>
  buildVote({
    validator: voter.publicKey,
    slot: 9,
    slotHash,
    tower: {
      lockouts: [
        { slot: 7, confirmationCount: 2 },
        { slot: 9, confirmationCount: 1 },
      ],
      root: 3,
    },
    bankHash: { slot: 7, commitment: sha256(bankHash, voter.publicKey) },
    timestampMs: 1_700_000_000_123,
  });

function refusal(result: VerifyVoteResult) {
  if (result.ok) throw new Error("expected a refusal");
  return result.error;
}

describe("votes", () => {
  it("carry the tower slot, hash, tower, root and the BankHash commitment — never the BankHash", () => {
    const v = sample();
    expect(v).toMatchObject({ slot: 9, root: 3, hasRoot: true, bankHashSlot: 7, hasBankHash: true });
    expect(toHex(v.bankHashCommitment)).toBe(toHex(sha256(bankHash, voter.publicKey)));
    expect(toHex(v.bankHashCommitment)).not.toBe(toHex(sha256(bankHash, other.publicKey)));
    const empty = buildVote({
      validator: voter.publicKey,
      slot: 1,
      slotHash,
      tower: { lockouts: [{ slot: 1, confirmationCount: 1 }], root: null },
      bankHash: null,
      timestampMs: 0,
    });
    expect(empty).toMatchObject({ root: 0, hasRoot: false, bankHashSlot: 0, hasBankHash: false });
    expect(empty.bankHashCommitment).toHaveLength(0);
  });

  it('are signed over "simd23/vote/v1" ‖ the encoded vote and verify back to the same vote', () => {
    const signed = signVote(voter, sample());
    expect(toHex(voteSigningInput(signed.vote)).startsWith(toHex(utf8("simd23/vote/v1")))).toBe(true);
    expect(verifySignature(voter.publicKey, voteSigningInput(signed.vote), signed.signature)).toBe(true);
    const verified = verifySignedVote(genesis, encodeSignedVote(signed));
    expect(verified.ok).toBe(true);
    if (verified.ok) {
      expect(verified.vote.vote).toEqual(sample());
      expect(verified.vote).toMatchObject({ validatorIndex: 1, stake: 5n, bankHash: { slot: 7 } });
      expect(verified.vote.tower.root).toBe(3);
      expect(verified.vote.signed).toEqual(signed);
    }
  });

  it("cannot be signed by a key other than the vote's validator", () => {
    expect(() => signVote(other, sample())).toThrow(RangeError);
  });

  it("refuse a forged or altered signature", () => {
    const signed = signVote(voter, sample());
    const altered = pb.Vote.encode({ ...sample(), slot: 10 }).finish();
    expect(refusal(verifySignedVote(genesis, { ...signed, vote: altered })).code).toBe("bad-signature");
    const byOther = signVote(other, { ...sample(), validator: other.publicKey });
    expect(refusal(verifySignedVote(genesis, { vote: signed.vote, signature: byOther.signature })).code).toBe(
      "bad-signature",
    );
  });

  it("refuse a vote from a key that is not a genesis validator", () => {
    const outsider = deriveKeypair(new Uint8Array(32), KEY_ROLES.validator, 1);
    const signed = signVote(outsider, { ...sample(), validator: outsider.publicKey });
    expect(refusal(verifySignedVote(genesis, signed)).code).toBe("unknown-validator");
  });

  it("refuse malformed bytes and fields with more than one encoding", () => {
    const bytes = encodeSignedVote(signVote(voter, sample()));
    expect(decodeSignedVote(bytes.subarray(0, bytes.length - 5)).ok).toBe(false);
    expect(refusal(verifySignedVote(genesis, bytes.subarray(0, 10))).code).toBe("malformed");
    const cases = [
      { ...sample(), slotHash: new Uint8Array(31) },
      { ...sample(), hasRoot: false },
      { ...sample(), hasBankHash: false },
      { ...sample(), bankHashCommitment: new Uint8Array(16) },
    ];
    for (const v of cases)
      expect(refusal(verifySignedVote(genesis, signVote(voter, v))).code).toBe("malformed");
    const signed = signVote(voter, sample());
    expect(
      refusal(verifySignedVote(genesis, { ...signed, signature: signed.signature.subarray(1) })).code,
    ).toBe("malformed");
  });

  it("refuse a tower that honest voting cannot build", () => {
    const cases = [
      { ...sample(), tower: [] },
      { ...sample(), slot: 8 },
      {
        ...sample(),
        tower: [
          { slot: 7, confirmationCount: 1 },
          { slot: 9, confirmationCount: 1 },
        ],
      },
      { ...sample(), root: 8 },
    ];
    for (const v of cases)
      expect(refusal(verifySignedVote(genesis, signVote(voter, v))).code).toBe("invalid-tower");
  });
});
