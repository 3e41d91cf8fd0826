import {
  bytesEqual,
  EnvelopeKind,
  type Genesis,
  openEnvelope,
  type VerifiedVote,
  verifySignedVote,
} from "@simd23/core";
import { control, vote } from "@simd23/proto";

/** A consumed message refused, with the reason to count and log. */
export interface RefusedMessage {
  readonly ok: false;
  /** A short, bounded reason (an envelope or vote error code, or `malformed`, `wrong-signer`). */
  readonly reason: string;
  readonly detail: string;
}

export type OpenedVote = { readonly ok: true; readonly vote: VerifiedVote } | RefusedMessage;
export type OpenedBankHashReport =
  | { readonly ok: true; readonly report: vote.BankHashReport; readonly signer: Uint8Array }
  | RefusedMessage;
export type OpenedMismatchReport =
  | { readonly ok: true; readonly report: control.MismatchReport }
  | RefusedMessage;

const refused = (reason: string, detail: string): RefusedMessage => ({ ok: false, reason, detail });

/**
 * A VOTES message: a VOTE envelope whose body is an encoded `vote.SignedVote`,
 * sealed by the voter itself. The vote is verified in full (`verifySignedVote`).
 */
export function openVoteMessage(genesis: Genesis, data: Uint8Array): OpenedVote {
  const opened = openEnvelope(genesis, data, EnvelopeKind.KIND_VOTE);
  if (!opened.ok) return refused(opened.error.code, opened.error.message);
  const verified = verifySignedVote(genesis, opened.envelope.body);
  if (!verified.ok) return refused(verified.error.code, verified.error.message);
  if (!bytesEqual(verified.vote.vote.validator, opened.envelope.signer))
    return refused("wrong-signer", "the envelope is not sealed by the voter");
  return { ok: true, vote: verified.vote };
}

/** A BANKHASHES report: a BANK_HASH_REPORT envelope sealed by the validator the report names. */
export function openBankHashReportMessage(genesis: Genesis, data: Uint8Array): OpenedBankHashReport {
  const opened = openEnvelope(genesis, data, EnvelopeKind.KIND_BANK_HASH_REPORT);
  if (!opened.ok) return refused(opened.error.code, opened.error.message);
  let report: vote.BankHashReport;
  try {
    report = vote.BankHashReport.decode(opened.envelope.body);
  } catch (error) {
    return refused("malformed", `the report does not decode: ${(error as Error).message}`);
  }
  if (!bytesEqual(report.validator, opened.envelope.signer))
    return refused("wrong-signer", "the envelope is not sealed by the validator the report names");
  return { ok: true, report, signer: opened.envelope.signer };
}

/** A mismatch report on CONTROL, sealed by the genesis verifier. */
export function openMismatchReportMessage(genesis: Genesis, data: Uint8Array): OpenedMismatchReport {
  const opened = openEnvelope(genesis, data, EnvelopeKind.KIND_MISMATCH_REPORT);
  if (!opened.ok) return refused(opened.error.code, opened.error.message);
  try {
    return { ok: true, report: control.MismatchReport.decode(opened.envelope.body) };
  } catch (error) {
    return refused("malformed", `the mismatch report does not decode: ${(error as Error).message}`);
  }
}
