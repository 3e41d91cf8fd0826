import { createPublicKey, type KeyObject, verify } from "node:crypto";
import {
  type ExecuteOptions,
  itemTransactions,
  PUBLIC_KEY_BYTES,
  SIGNATURE_BYTES,
  signingInput,
  TRANSACTION_SIGNING_DOMAIN,
  type ValidItem,
  type ValidTransaction,
  verifyTransactionSignatures,
  type WellFormedUserBlock,
} from "@simd23/core";
import type { tx } from "@simd23/proto";

// DER prefix of an ed25519 SPKI public key (RFC 8410).
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
const KEY_CACHE_LIMIT = 65_536;
const keyCache = new Map<string, KeyObject>();

function keyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString("base64");
  let key = keyCache.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    keyCache.set(id, key);
  }
  return key;
}

/** One ed25519 verification on libuv's thread pool: the event loop stays free meanwhile. */
export function verifySignatureOffLoop(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES)
    return Promise.resolve(false);
  let key: KeyObject;
  try {
    key = keyObject(publicKey);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    verify(null, message, key, signature, (error, ok) => resolve(error === null && ok));
  });
}

async function transactionVerifies(transaction: ValidTransaction): Promise<boolean> {
  const message = signingInput(TRANSACTION_SIGNING_DOMAIN, transaction.wire.message);
  const { signers } = transaction.message;
  const checks = signers.map((signer, i) =>
    verifySignatureOffLoop(signer, message, transaction.wire.signatures[i]!),
  );
  return (await Promise.all(checks)).every(Boolean);
}

/**
 * Verifies every transaction signature of the given blocks on the thread pool
 * (in parallel, off the event loop) and returns the bank's `signatureCheck`:
 * a lookup of those results by the transaction's wire object, which the bank
 * decodes from the same items. A transaction it has not seen is verified
 * inline, so the result never depends on the lookup.
 */
export async function preverifySignatures(
  blocks: readonly WellFormedUserBlock[],
): Promise<NonNullable<ExecuteOptions["signatureCheck"]>> {
  return preverifyItemSignatures(
    blocks.flatMap((block) => block.items.map((positioned) => positioned.valid)),
  );
}

/**
 * preverifySignatures for items that are not in a UserBlock (sync mode's
 * TransactionEntries): the same lookup by wire object, for a bank that
 * decodes the same item objects.
 */
export async function preverifyItemSignatures(
  items: readonly ValidItem[],
): Promise<NonNullable<ExecuteOptions["signatureCheck"]>> {
  const results = new WeakMap<tx.Transaction, boolean>();
  const pending: Promise<void>[] = [];
  for (const item of items) {
    for (const transaction of itemTransactions(item)) {
      pending.push(
        transactionVerifies(transaction).then((ok) => {
          results.set(transaction.wire, ok);
        }),
      );
    }
  }
  await Promise.all(pending);
  return (transaction) => {
    return results.get(transaction.wire) ?? verifyTransactionSignatures(transaction);
  };
}

/** Whether every signature of a transaction verifies, checked on the thread pool (the event loop stays free). */
export function verifyTransactionOffLoop(transaction: ValidTransaction): Promise<boolean> {
  return transactionVerifies(transaction);
}
