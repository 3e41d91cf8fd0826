import { randomBytes } from "node:crypto";
import {
  DEFAULT_LIMITS,
  decodeTransaction,
  encodeTransactionMessage,
  itemComputeUnitLimit,
  itemFeeRate,
  keypairFromSeed,
  memoInstruction,
  signTransaction,
  toHex,
} from "@simd23/core";
import type { tx } from "@simd23/proto";
import { sealIntakeItem } from "@simd23/runtime";
import { encodeItem } from "../private/block-assembly.js";
import type { PendingItem } from "../private/intake-book.js";

export interface PendingItemOptions {
  readonly price?: bigint;
  readonly units?: number;
  readonly arrivalMs?: number;
  readonly arrivalSeq?: number;
  readonly blockhashSlot?: number;
  readonly poolIndex?: number;
  /** Memo length: makes the item bigger. */
  readonly memoBytes?: number;
}

let sequence = 0;

/** A pending item made from a real signed transaction, as intake would make it. */
export function pendingItem(options: PendingItemOptions = {}): PendingItem {
  const payer = keypairFromSeed(new Uint8Array(randomBytes(32)));
  const message = encodeTransactionMessage([payer.publicKey], {
    recentBlockhash: new Uint8Array(32).fill(1),
    computeUnitLimit: options.units ?? 10_000,
    computeUnitPrice: options.price ?? 1n,
    instructions: [memoInstruction("m".repeat(options.memoBytes ?? 8))],
  });
  const wire = signTransaction(message, [payer]);
  const decoded = decodeTransaction(wire, DEFAULT_LIMITS);
  if (!decoded.ok) throw decoded.error;
  const valid = { kind: "transaction" as const, transaction: decoded.value };
  const item: tx.TransactionItem = { item: { $case: "transaction", value: wire } };
  sequence += 1;
  const body = encodeItem(item);
  return {
    key: toHex(decoded.value.id),
    id: decoded.value.id,
    item,
    body,
    sealed: sealIntakeItem(payer, body),
    kind: "transaction",
    signatures: [decoded.value.id],
    feePayer: payer.publicKey,
    feeRate: itemFeeRate(valid),
    computeUnits: itemComputeUnitLimit(valid),
    blockhashSlot: options.blockhashSlot ?? 0,
    arrivalMs: options.arrivalMs ?? Date.now(),
    arrivalSeq: options.arrivalSeq ?? sequence,
    poolIndex: options.poolIndex ?? 0,
    trace: undefined,
    state: "waiting",
    message: undefined,
  };
}
