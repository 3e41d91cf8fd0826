import { u64le, utf8 } from "../bytes.js";
import { HASH_BYTES, sha256 } from "../hash.js";

/** The parent BankHash of the genesis bank (slot 0). */
export const GENESIS_PARENT_BANK_HASH: Uint8Array = new Uint8Array(HASH_BYTES);

/** BankHash(slot) = sha256(BankHash(parent) ‖ accountsHash ‖ u64le(signatureCount) ‖ lastPohHash). */
export function computeBankHash(
  parentBankHash: Uint8Array,
  accountsHash: Uint8Array,
  signatureCount: bigint | number,
  lastPohHash: Uint8Array,
): Uint8Array {
  for (const [name, hash] of [
    ["parentBankHash", parentBankHash],
    ["accountsHash", accountsHash],
    ["lastPohHash", lastPohHash],
  ] as const) {
    if (hash.length !== HASH_BYTES)
      throw new RangeError(`${name} is ${HASH_BYTES} bytes, got ${hash.length}`);
  }
  return sha256(parentBankHash, accountsHash, u64le(signatureCount), lastPohHash);
}

/**
 * What a vote carries instead of the BankHash: bound to the voter, so a
 * validator cannot copy another's commitment without computing the BankHash.
 */
export function bankHashCommitment(bankHash: Uint8Array, voterKey: Uint8Array): Uint8Array {
  return sha256(bankHash, voterKey);
}

/**
 * The deliberately wrong BankHash a testnet bank reports under the fault
 * option: a fixed, recognisable perturbation of the correct one.
 */
export function perturbedBankHash(bankHash: Uint8Array): Uint8Array {
  return sha256(utf8("simd23/fault/wrong-bank-hash"), bankHash);
}
