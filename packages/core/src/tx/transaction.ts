import { tx } from "@simd23/proto";
import { bytesEqual } from "../bytes.js";
import type { Limits } from "../genesis.js";
import { HASH_BYTES } from "../hash.js";
import {
  encodeKey,
  type Keypair,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  signingInput,
  signMessage,
  verifySignature,
} from "../keys.js";
import { messageComputeUnits } from "./compute.js";

/** Every signer signs this domain followed by the encoded TransactionMessage. */
export const TRANSACTION_SIGNING_DOMAIN = "simd23/tx/v1";

/** The limits a transaction is checked against (a genesis's `limits` satisfies it). */
export type TransactionLimits = Pick<Limits, "maxTransactionBytes" | "maxTransactionComputeUnits">;

/** Why a transaction or bundle is invalid; each code names the tx.RejectReason it maps to. */
export type TransactionErrorCode = "MALFORMED" | "OVERSIZE" | "OVER_COMPUTE_LIMIT" | "BAD_SIGNATURE";

const REJECT_REASONS: Record<TransactionErrorCode, tx.RejectReason> = {
  MALFORMED: tx.RejectReason.REJECT_REASON_MALFORMED,
  OVERSIZE: tx.RejectReason.REJECT_REASON_OVERSIZE,
  OVER_COMPUTE_LIMIT: tx.RejectReason.REJECT_REASON_OVER_COMPUTE_LIMIT,
  BAD_SIGNATURE: tx.RejectReason.REJECT_REASON_BAD_SIGNATURE,
};

export class TransactionError extends Error {
  readonly rejectReason: tx.RejectReason;

  constructor(
    readonly code: TransactionErrorCode,
    /** What is wrong, without the code. */
    readonly detail: string,
    /** Position of the offending transaction inside a bundle, when there is one. */
    readonly index?: number,
  ) {
    super(index === undefined ? `${code}: ${detail}` : `${code}: transaction ${index}: ${detail}`);
    this.name = "TransactionError";
    this.rejectReason = REJECT_REASONS[code];
  }
}

export type DecodeResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: TransactionError };

/** A transaction that decoded and passed every structural and limit rule. */
export interface ValidTransaction {
  /** The wire form, as received or built. */
  readonly wire: tx.Transaction;
  readonly message: tx.TransactionMessage;
  /** signatures[0]. */
  readonly id: Uint8Array;
  /** signers[0]. */
  readonly feePayer: Uint8Array;
  /** Length of the encoded tx.Transaction. */
  readonly sizeBytes: number;
  readonly signatureCount: number;
  readonly computeUnitLimit: number;
  readonly computeUnitPrice: bigint;
  /** Compute units the transaction consumes if all of it runs (see messageComputeUnits). */
  readonly computeUnitsRequired: number;
}

export interface DecodeOptions {
  /** Verify every signature (default true); BAD_SIGNATURE if one fails. */
  readonly verifySignatures?: boolean;
}

const fail = <T>(code: TransactionErrorCode, detail: string): DecodeResult<T> => ({
  ok: false,
  error: new TransactionError(code, detail),
});

/** Bytes of a protobuf varint. */
export function varintSize(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

function lengthDelimitedSize(length: number): number {
  return 1 + varintSize(length) + length;
}

/** Length of the canonical encoding of a tx.Transaction, computed without encoding it. */
export function encodedTransactionSize(transaction: tx.Transaction): number {
  let size = transaction.message.length === 0 ? 0 : lengthDelimitedSize(transaction.message.length);
  for (const signature of transaction.signatures) size += lengthDelimitedSize(signature.length);
  return size;
}

function checkInstruction(
  message: tx.TransactionMessage,
  instruction: tx.Instruction,
  i: number,
): string | null {
  const kind = instruction.kind;
  if (kind === undefined) return `instruction ${i} has no kind`;
  if (kind.$case === "transfer") {
    if (kind.value.fromSigner >= message.signers.length)
      return `instruction ${i}: fromSigner ${kind.value.fromSigner} is not a signer index`;
    if (kind.value.to.length !== PUBLIC_KEY_BYTES)
      return `instruction ${i}: the receiving key is ${kind.value.to.length} bytes, not ${PUBLIC_KEY_BYTES}`;
  }
  return null;
}

function checkMessage(message: tx.TransactionMessage, signatures: readonly Uint8Array[]): string | null {
  if (message.signers.length === 0) return "a transaction needs at least one signer (the fee payer)";
  if (signatures.length !== message.signers.length)
    return `${message.signers.length} signers but ${signatures.length} signatures`;
  const seen = new Set<string>();
  for (const [i, signer] of message.signers.entries()) {
    if (signer.length !== PUBLIC_KEY_BYTES)
      return `signer ${i} is ${signer.length} bytes, not ${PUBLIC_KEY_BYTES}`;
    const key = Buffer.from(signer.buffer, signer.byteOffset, signer.byteLength).toString("latin1");
    if (seen.has(key)) return `signer ${i} appears twice`;
    seen.add(key);
  }
  for (const [i, signature] of signatures.entries())
    if (signature.length !== SIGNATURE_BYTES)
      return `signature ${i} is ${signature.length} bytes, not ${SIGNATURE_BYTES}`;
  if (message.recentBlockhash.length !== HASH_BYTES)
    return `recentBlockhash is ${message.recentBlockhash.length} bytes, not ${HASH_BYTES}`;
  for (const [i, instruction] of message.instructions.entries()) {
    const problem = checkInstruction(message, instruction, i);
    if (problem !== null) return problem;
  }
  return null;
}

/**
 * Turns untrusted input (the encoded tx.Transaction, or one already decoded as
 * part of a larger message) into a ValidTransaction, or a TransactionError
 * whose code maps to a tx.RejectReason. Never throws. Encodings must be
 * canonical, so one transaction has exactly one byte form and unknown fields
 * cannot slip past nodes that would read them differently.
 */
export function decodeTransaction(
  input: Uint8Array | tx.Transaction,
  limits: TransactionLimits,
  options: DecodeOptions = {},
): DecodeResult<ValidTransaction> {
  let wire: tx.Transaction;
  let sizeBytes: number;
  if (input instanceof Uint8Array) {
    sizeBytes = input.length;
    if (sizeBytes > limits.maxTransactionBytes)
      return fail("OVERSIZE", `${sizeBytes} bytes, the limit is ${limits.maxTransactionBytes}`);
    try {
      wire = tx.Transaction.decode(input);
    } catch (error) {
      return fail("MALFORMED", `not a transaction: ${(error as Error).message}`);
    }
    if (
      encodedTransactionSize(wire) !== sizeBytes ||
      !bytesEqual(tx.Transaction.encode(wire).finish(), input)
    )
      return fail("MALFORMED", "the transaction encoding is not canonical");
  } else {
    wire = input;
    sizeBytes = encodedTransactionSize(wire);
    if (sizeBytes > limits.maxTransactionBytes)
      return fail("OVERSIZE", `${sizeBytes} bytes, the limit is ${limits.maxTransactionBytes}`);
  }
  let message: tx.TransactionMessage;
  try {
    message = tx.TransactionMessage.decode(wire.message);
  } catch (error) {
    return fail("MALFORMED", `the message does not decode: ${(error as Error).message}`);
  }
  if (!bytesEqual(tx.TransactionMessage.encode(message).finish(), wire.message))
    return fail("MALFORMED", "the message encoding is not canonical");
  const problem = checkMessage(message, wire.signatures);
  if (problem !== null) return fail("MALFORMED", problem);
  if (message.computeUnitLimit === 0) return fail("MALFORMED", "computeUnitLimit must be at least 1");
  if (message.computeUnitLimit > limits.maxTransactionComputeUnits) {
    return fail(
      "OVER_COMPUTE_LIMIT",
      `computeUnitLimit ${message.computeUnitLimit} exceeds ${limits.maxTransactionComputeUnits}`,
    );
  }
  const value: ValidTransaction = {
    wire,
    message,
    id: wire.signatures[0]!,
    feePayer: message.signers[0]!,
    sizeBytes,
    signatureCount: message.signers.length,
    computeUnitLimit: message.computeUnitLimit,
    computeUnitPrice: message.computeUnitPrice,
    computeUnitsRequired: messageComputeUnits(message),
  };
  if ((options.verifySignatures ?? true) && !verifyTransactionSignatures(value))
    return fail("BAD_SIGNATURE", "a signature does not verify");
  return { ok: true, value };
}

/** True when every signer's signature covers the message under the transaction domain. */
export function verifyTransactionSignatures(transaction: ValidTransaction): boolean {
  const signed = signingInput(TRANSACTION_SIGNING_DOMAIN, transaction.wire.message);
  const { signers } = transaction.message;
  const { signatures } = transaction.wire;
  for (let i = 0; i < signers.length; i++)
    if (!verifySignature(signers[i]!, signed, signatures[i]!)) return false;
  return true;
}

/** The transaction id (its first signature) in base58, as Solana shows signatures. */
export function transactionIdBase58(transaction: ValidTransaction): string {
  return encodeKey(transaction.id);
}

/** The fields a client chooses; the signers come from the keypairs that sign. */
export interface TransactionFields {
  readonly recentBlockhash: Uint8Array;
  readonly computeUnitLimit: number;
  readonly computeUnitPrice: bigint;
  readonly instructions: readonly tx.Instruction[];
}

export function transferInstruction(fromSigner: number, to: Uint8Array, lamports: bigint): tx.Instruction {
  return { kind: { $case: "transfer", value: { fromSigner, to, lamports } } };
}

export function memoInstruction(text: string): tx.Instruction {
  return { kind: { $case: "memo", value: { text } } };
}

export function burnComputeInstruction(units: number): tx.Instruction {
  return { kind: { $case: "burnCompute", value: { units } } };
}

/** Encodes the message that signers sign; signers[0] pays the fee. */
export function encodeTransactionMessage(
  signers: readonly Uint8Array[],
  fields: TransactionFields,
): Uint8Array {
  try {
    return tx.TransactionMessage.encode({
      signers: [...signers],
      recentBlockhash: fields.recentBlockhash,
      computeUnitLimit: fields.computeUnitLimit,
      computeUnitPrice: fields.computeUnitPrice,
      instructions: [...fields.instructions],
    }).finish();
  } catch (error) {
    throw new TransactionError("MALFORMED", `cannot encode the message: ${(error as Error).message}`);
  }
}

/**
 * Signs an encoded message with one keypair per signer, in signer order.
 * Throws a TransactionError if the keypairs are not exactly the message's signers.
 */
export function signTransaction(message: Uint8Array, keypairs: readonly Keypair[]): tx.Transaction {
  let signers: Uint8Array[];
  try {
    signers = tx.TransactionMessage.decode(message).signers;
  } catch (error) {
    throw new TransactionError("MALFORMED", `the message does not decode: ${(error as Error).message}`);
  }
  if (signers.length !== keypairs.length || signers.some((s, i) => !bytesEqual(s, keypairs[i]!.publicKey)))
    throw new TransactionError("MALFORMED", "the keypairs are not the message's signers, in order");
  const signed = signingInput(TRANSACTION_SIGNING_DOMAIN, message);
  return { message, signatures: keypairs.map((keypair) => signMessage(keypair, signed)) };
}

/**
 * Builds, signs and validates a transaction; keypairs[0] pays the fee. Throws a
 * TransactionError if the result breaks a rule (size, compute limit, shape).
 */
export function buildTransaction(
  fields: TransactionFields,
  keypairs: readonly Keypair[],
  limits: TransactionLimits,
): ValidTransaction {
  const message = encodeTransactionMessage(
    keypairs.map((k) => k.publicKey),
    fields,
  );
  const decoded = decodeTransaction(signTransaction(message, keypairs), limits, { verifySignatures: false });
  if (!decoded.ok) throw decoded.error;
  return decoded.value;
}
