import type { control } from "@simd23/proto";
import { type Bank, BankError, type ExecuteOptions, type UserBlockForExecution } from "./bank.js";

/** The UserBlockSlots a slot recorded, in ledger order, and how its PoH ended. */
export interface SlotExecutionInput {
  readonly slot: number;
  /** The last PoH hash of the slot (SlotEnd.last_hash). */
  readonly lastPohHash: Uint8Array;
  readonly userBlockSlots: readonly {
    readonly userBlockSlot: number;
    readonly blocks: readonly UserBlockForExecution[];
  }[];
}

export interface SlotExecution {
  readonly bank: Bank;
  readonly bankHash: Uint8Array;
  /** One result per transaction, in execution order, UserBlockSlot after UserBlockSlot. */
  readonly results: control.TransactionResult[];
}

/** Creates the bank of a slot on top of parent, executes what the slot recorded and freezes it. */
export function executeSlot(
  parent: Bank,
  input: SlotExecutionInput,
  options: ExecuteOptions = {},
): SlotExecution {
  const bank = parent.newChild(input.slot);
  const results: control.TransactionResult[] = [];
  for (const { userBlockSlot, blocks } of input.userBlockSlots)
    results.push(...bank.executeUserBlockSlot(userBlockSlot, blocks, options));
  const bankHash = bank.freeze(input.lastPohHash);
  return { bank, bankHash, results };
}

/** The banks of a validator by slot: one root and the forks above it. */
export class BankForks {
  private readonly banks = new Map<number, Bank>();
  private rootBank: Bank;

  constructor(root: Bank) {
    if (!root.isFrozen || root.parent !== null)
      throw new BankError("the first bank of BankForks must be a frozen root");
    this.rootBank = root;
    this.banks.set(root.slot, root);
  }

  get root(): Bank {
    return this.rootBank;
  }

  get(slot: number): Bank | undefined {
    return this.banks.get(slot);
  }

  /** Every live slot, ascending. */
  slots(): number[] {
    return [...this.banks.keys()].sort((a, b) => a - b);
  }

  /** A new bank for slot on the frozen bank of parentSlot. */
  createChild(parentSlot: number, slot: number): Bank {
    const parent = this.banks.get(parentSlot);
    if (parent === undefined) throw new BankError(`no bank for parent slot ${parentSlot}`);
    if (this.banks.has(slot)) throw new BankError(`slot ${slot} already has a bank`);
    const child = parent.newChild(slot);
    this.banks.set(slot, child);
    return child;
  }

  /** Adds a bank made outside (executeSlot); its parent must be one of these banks. */
  insert(bank: Bank): void {
    const parent = bank.parent;
    if (parent === null || this.banks.get(parent.slot) !== parent)
      throw new BankError(`the parent of slot ${bank.slot} is not in BankForks`);
    if (this.banks.has(bank.slot)) throw new BankError(`slot ${bank.slot} already has a bank`);
    this.banks.set(bank.slot, bank);
  }

  /** Roots the frozen bank of slot; returns the slots dropped (ancestors and dead forks), ascending. */
  setRoot(slot: number): number[] {
    const bank = this.banks.get(slot);
    if (bank === undefined) throw new BankError(`no bank for slot ${slot}`);
    const dropped = bank.makeRoot();
    for (const gone of dropped) this.banks.delete(gone);
    this.rootBank = bank;
    return dropped;
  }
}
