import type { Bus } from "@simd23/bus";
import {
  type Bank,
  createGenesisBank,
  ExecutionMode,
  type Genesis,
  type Keypair,
  perturbedBankHash,
  SlotBuilder,
  type SlotRecord,
} from "@simd23/core";
import type { control, ledger, tx } from "@simd23/proto";
import { LedgerStandIn } from "./stand-in.js";

/** How the stand-in sync leader ends a slot. */
export interface SyncSlotOptions {
  /** Records a deliberately wrong SlotEnd.bankHash (a lying or broken leader). */
  readonly wrongBankHash?: boolean;
}

/**
 * A stand-in sync-mode leader for tests of the roles that consume a sync
 * ledger: it keeps a bank per slot, executes the transactions handed to it
 * (Bank.executeItems, in the order given) when it builds a slot, records the
 * items that paid a fee as one TransactionEntry, records the votes seen on
 * VOTES, and ends every slot with its BankHash — as the leader service does,
 * without its clock and feed.
 */
export class SyncTestLedger extends LedgerStandIn {
  private readonly banks = new Map<number, Bank>();
  private readonly slotResults = new Map<number, control.TransactionResult[]>();
  private readonly pendingItems: tx.TransactionItem[] = [];

  constructor(bus: Bus, genesis: Genesis, clusterSeed: Uint8Array) {
    if (genesis.mode !== ExecutionMode.EXECUTION_MODE_SYNC)
      throw new RangeError("SyncTestLedger needs a sync-mode genesis");
    super(bus, genesis, clusterSeed);
    this.banks.set(0, createGenesisBank(genesis));
  }

  /** The leader's frozen bank of a slot it built. */
  bank(slot: number): Bank | undefined {
    return this.banks.get(slot);
  }

  /** The leader's results of a slot, in execution order (the refused items' too). */
  results(slot: number): readonly control.TransactionResult[] {
    return this.slotResults.get(slot) ?? [];
  }

  /** A transfer signed by `from`, naming the newest slot's blockhash, executed in the next slot. */
  transfer(from: Keypair, to: Uint8Array, lamports: bigint, computeUnitPrice = 0n): tx.Transaction {
    const transaction = this.signedTransfer(from, to, lamports, computeUnitPrice);
    this.submit({ item: { $case: "transaction", value: transaction.wire } });
    return transaction.wire;
  }

  /** An item executed in the next slot, after those submitted before it. */
  submit(item: tx.TransactionItem): void {
    this.pendingItems.push(item);
  }

  /**
   * Builds slot on parentSlot (default: the newest slot): records the pending
   * votes, executes the pending items on the parent's bank and records those
   * that paid a fee in one TransactionEntry, ticks, freezes the bank with the
   * last tick's hash and ends the slot with the BankHash; then publishes it.
   */
  async produceSlot(
    slot: number,
    parentSlot = this.newestSlot,
    options: SyncSlotOptions = {},
  ): Promise<SlotRecord> {
    const parent = this.parentState(parentSlot);
    const parentBank = this.banks.get(parentSlot);
    if (parentBank === undefined) throw new Error(`no bank for parent slot ${parentSlot}`);
    const leader = this.leaderOf(slot);
    const builder = new SlotBuilder(this.context, parent, slot, leader.publicKey);
    const bank = parentBank.newChild(slot);
    const entries: ledger.SlotEntry[] = [];
    const votes = this.takeStreamVotes(slot, parentSlot);
    const items = this.pendingItems.splice(0);
    const executions = bank.executeItems(items);
    const charged = items.filter((_, i) => executions[i]!.charged);
    this.slotResults.set(
      slot,
      executions.flatMap((e) => e.results),
    );
    const skippedTicks = (slot - parentSlot - 1) * this.genesis.timing.ticksPerSlot;
    for (let i = 0; i < skippedTicks; i++) entries.push(this.tick(builder));
    if (votes.length > 0) {
      const recorded = builder.recordVotes(votes);
      if (recorded.ok) entries.push(recorded.entry);
    }
    if (charged.length > 0) entries.push(builder.recordTransactions(charged));
    while (!builder.complete) entries.push(this.tick(builder));
    const lastHash = entries.at(-1)!.entry!.hash;
    const bankHash = bank.freeze(lastHash);
    const { end, record } = builder.end(options.wrongBankHash ? perturbedBankHash(bankHash) : bankHash);
    await this.publishSlot(builder, entries, end, leader);
    this.accept(record);
    this.banks.set(slot, bank);
    return record;
  }
}
