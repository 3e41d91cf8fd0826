import {
  authorizeEnvelope,
  bytesEqual,
  EnvelopeKind,
  envelopeSigningInput,
  type Genesis,
  type Keypair,
  type OpenEnvelopeResult,
  openEnvelope,
  readEnvelope,
  sealEnvelope,
} from "@simd23/core";
import { tx } from "@simd23/proto";
import type { RefusedMessage } from "./consensus-messages.js";
import { verifySignatureOffLoop } from "./signature-check.js";

/** An INTAKE message opened: its item, sealed by the pool proposer its subject names. */
export interface OpenedIntakeItem {
  readonly ok: true;
  readonly item: tx.TransactionItem;
  /** The encoded item (the envelope's body): what a UserBlock or a TransactionEntry carries. */
  readonly body: Uint8Array;
  readonly poolIndex: number;
}

export type OpenedIntake = OpenedIntakeItem | RefusedMessage;

const refused = (reason: string, detail: string): RefusedMessage => ({ ok: false, reason, detail });

/** The pool index an INTAKE subject names (`intake.<i>`), or undefined for any other subject. */
export function intakePoolIndex(subject: string): number | undefined {
  const match = /^intake\.(0|[1-9][0-9]{0,5})$/.exec(subject);
  return match === null ? undefined : Number(match[1]);
}

/**
 * What a proposer publishes on `intake.<pool index>`: the encoded item in an
 * INTAKE_ITEM envelope sealed by that pool key (protocol.md §1), so every
 * consumer knows which pool proposer accepted it.
 */
export function sealIntakeItem(poolKey: Keypair, body: Uint8Array): Uint8Array {
  return sealEnvelope(poolKey, EnvelopeKind.KIND_INTAKE_ITEM, body);
}

/**
 * Opens an INTAKE message: an INTAKE_ITEM envelope sealed by the pool
 * proposer of the index its subject names, whose body decodes as a
 * `tx.TransactionItem`. The item itself (its transactions and signatures) is
 * the caller's to check, as at intake.
 */
export function openIntakeItemMessage(genesis: Genesis, subject: string, data: Uint8Array): OpenedIntake {
  const poolIndex = intakePoolIndex(subject);
  if (poolIndex === undefined) return refused("malformed", `${subject} is not an INTAKE subject`);
  return intakeItemOf(genesis, poolIndex, openEnvelope(genesis, data, EnvelopeKind.KIND_INTAKE_ITEM));
}

/** openIntakeItemMessage with the envelope's signature verified on the thread pool (the event loop stays free). */
export async function openIntakeItemOffLoop(
  genesis: Genesis,
  subject: string,
  data: Uint8Array,
): Promise<OpenedIntake> {
  const poolIndex = intakePoolIndex(subject);
  if (poolIndex === undefined) return refused("malformed", `${subject} is not an INTAKE subject`);
  return intakeItemOf(
    genesis,
    poolIndex,
    await openEnvelopeOffLoop(genesis, data, EnvelopeKind.KIND_INTAKE_ITEM),
  );
}

/** openEnvelope, with the signature verified on the thread pool: the same checks in the same order. */
export async function openEnvelopeOffLoop(
  genesis: Genesis,
  data: Uint8Array,
  expected?: EnvelopeKind | readonly EnvelopeKind[],
): Promise<OpenEnvelopeResult> {
  const read = readEnvelope(data, expected);
  if (!read.ok) return read;
  const { kind, body, signer, signature } = read.envelope;
  const verifies = await verifySignatureOffLoop(signer, envelopeSigningInput(kind, body), signature);
  return authorizeEnvelope(genesis, read.envelope, verifies);
}

function intakeItemOf(genesis: Genesis, poolIndex: number, opened: OpenEnvelopeResult): OpenedIntake {
  if (!opened.ok) return refused(opened.error.code, opened.error.message);
  const holder = genesis.proposerPool[poolIndex];
  if (holder === undefined || !bytesEqual(holder.identity, opened.envelope.signer))
    return refused("wrong-signer", `the item is not sealed by the pool proposer of intake.${poolIndex}`);
  try {
    const item = tx.TransactionItem.decode(opened.envelope.body);
    return { ok: true, item, body: opened.envelope.body, poolIndex };
  } catch (error) {
    return refused("malformed", `the item does not decode: ${(error as Error).message}`);
  }
}
