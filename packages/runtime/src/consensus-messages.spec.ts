import {
  buildVote,
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  encodeSignedVote,
  KEY_ROLES,
  sealEnvelope,
  sha256,
  signVote,
  utf8,
} from "@simd23/core";
import { control, vote } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import {
  openBankHashReportMessage,
  openMismatchReportMessage,
  openVoteMessage,
} from "./consensus-messages.js";

const seed = sha256(utf8("simd23/consensus-messages-spec"));
const genesis = createTestnetGenesis({
  clusterName: "consensus-messages",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 2,
  proposerPool: 1,
});
const [v0, v1] = [0, 1].map((i) => deriveKeypair(seed, KEY_ROLES.validator, i)) as [
  ReturnType<typeof deriveKeypair>,
  ReturnType<typeof deriveKeypair>,
];
const verifier = deriveKeypair(seed, KEY_ROLES.verifier, 0);

function signedVoteBytes(slot: number): Uint8Array {
  return encodeSignedVote(
    signVote(
      v0,
      buildVote({
        validator: v0.publicKey,
        slot,
        slotHash: sha256(utf8(`slot ${slot}`)),
        tower: { lockouts: [{ slot, confirmationCount: 1 }], root: null },
        bankHash: { slot: slot - 1, commitment: sha256(utf8("commitment")) },
        timestampMs: 1,
      }),
    ),
  );
}

const report = (validator: Uint8Array): Uint8Array =>
  vote.BankHashReport.encode({
    validator,
    slot: 7,
    parentSlot: 6,
    bankHashCommitment: sha256(utf8("c")),
    signatureCount: 0,
    transactionCount: 0,
    executionLagSlots: 0,
    executedAtMs: 0n,
  }).finish();

describe("opening consensus messages", () => {
  it("opens a vote sealed by its voter and refuses one sealed by another validator or not a vote", () => {
    const opened = openVoteMessage(genesis, sealEnvelope(v0, EnvelopeKind.KIND_VOTE, signedVoteBytes(5)));
    expect(opened.ok && [opened.vote.vote.slot, opened.vote.bankHash?.slot]).toEqual([5, 4]);
    const relayed = openVoteMessage(genesis, sealEnvelope(v1, EnvelopeKind.KIND_VOTE, signedVoteBytes(5)));
    expect(relayed.ok || relayed.reason).toBe("wrong-signer");
    const garbage = openVoteMessage(
      genesis,
      sealEnvelope(v0, EnvelopeKind.KIND_VOTE, new Uint8Array([1, 2, 3])),
    );
    expect(garbage.ok || garbage.reason).toBe("malformed");
    const misrouted = openVoteMessage(
      genesis,
      sealEnvelope(v0, EnvelopeKind.KIND_BANK_HASH_REPORT, report(v0.publicKey)),
    );
    expect(misrouted.ok || misrouted.reason).toBe("wrong-kind");
  });

  it("opens a report sealed by the validator it names, and refuses a report for someone else", () => {
    const opened = openBankHashReportMessage(
      genesis,
      sealEnvelope(v1, EnvelopeKind.KIND_BANK_HASH_REPORT, report(v1.publicKey)),
    );
    expect(opened.ok && opened.report.slot).toBe(7);
    const forged = openBankHashReportMessage(
      genesis,
      sealEnvelope(v1, EnvelopeKind.KIND_BANK_HASH_REPORT, report(v0.publicKey)),
    );
    expect(forged.ok || forged.reason).toBe("wrong-signer");
  });

  it("opens a mismatch report only from the genesis verifier", () => {
    const body = control.MismatchReport.encode({ slot: 3, evidence: [], tally: undefined }).finish();
    const opened = openMismatchReportMessage(
      genesis,
      sealEnvelope(verifier, EnvelopeKind.KIND_MISMATCH_REPORT, body),
    );
    expect(opened.ok && opened.report.slot).toBe(3);
    const forged = openMismatchReportMessage(
      genesis,
      sealEnvelope(v0, EnvelopeKind.KIND_MISMATCH_REPORT, body),
    );
    expect(forged.ok || forged.reason).toBe("unauthorized-signer");
  });
});
