import type { control, tx } from "@simd23/proto";
import type { Bank, ExecuteOptions } from "./bank.js";

/** Sync mode: what a slot recorded for execution — its TransactionEntries in ledger order — and how its PoH ended. */
export interface SyncSlotInput {
  readonly slot: number;
  /** The last PoH hash of the slot (SlotEnd.last_hash). */
  readonly lastPohHash: Uint8Array;
  readonly transactionEntries: readonly { readonly items: readonly tx.TransactionItem[] }[];
}

export interface SyncSlotExecution {
  readonly bank: Bank;
  readonly bankHash: Uint8Array;
  /** One result per transaction, in ledger order. */
  readonly results: control.TransactionResult[];
}

/**
 * Sync mode's executeSlot: creates the bank of a slot on top of parent, runs
 * every item of its TransactionEntries in ledger order (Bank.executeItems) and
 * freezes it. A validator compares the BankHash with the leader's SlotEnd.bankHash.
 */
export function executeSyncSlot(
  parent: Bank,
  input: SyncSlotInput,
  options: ExecuteOptions = {},
): SyncSlotExecution {
  const bank = parent.newChild(input.slot);
  const results: control.TransactionResult[] = [];
  for (const entry of input.transactionEntries)
    for (const executed of bank.executeItems(entry.items, options)) results.push(...executed.results);
  const bankHash = bank.freeze(input.lastPohHash);
  return { bank, bankHash, results };
}
