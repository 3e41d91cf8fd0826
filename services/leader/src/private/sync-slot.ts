import type { Bank, ExecuteOptions } from "@simd23/core";
import { type control, tx } from "@simd23/proto";
import type { FedItem, FeedPool, ItemFate } from "./feed-pool.js";

const Status = tx.ExecutionStatus;

export interface SyncSlotLimits {
  /** The slot's compute units (genesis limits.maxSlotComputeUnits): what its TransactionEntries may hold in all. */
  readonly maxSlotComputeUnits: bigint;
  /** Bytes of items one TransactionEntry may carry (it travels as one LEDGER message). */
  readonly entryBytes: number;
  /** Items executed at once between two looks at the clock. */
  readonly chunkItems: number;
}

/** What the bank's results say about an item that paid no fee. */
export function fateOf(results: readonly control.TransactionResult[], charged: boolean): ItemFate {
  if (charged) return "executed";
  const statuses = results.map((r) => r.status);
  if (
    statuses.length === 0 ||
    statuses.some(
      (s) =>
        s === Status.EXECUTION_STATUS_SIGNATURE_FAILURE || s === Status.EXECUTION_STATUS_INVALID_TRANSACTION,
    )
  )
    return "invalid";
  if (statuses.includes(Status.EXECUTION_STATUS_DUPLICATE)) return "done-on-chain";
  return "retry";
}

/**
 * One slot a sync leader builds: its bank (a child of the parent's), and the
 * items it executes from the feed — best fee rate first, bundles as units,
 * within the slot's compute units — whenever the leader has room to record.
 * Only the items that paid a fee are recorded: the others left the bank
 * untouched, so the TransactionEntries reproduce its BankHash exactly.
 */
export class SyncSlotExecution {
  private computeUnitsUsed = 0n;
  private readonly outcome = { recorded: 0, refused: 0 };

  constructor(
    readonly bank: Bank,
    private readonly pool: FeedPool,
    private readonly limits: SyncSlotLimits,
    private readonly signatureCheck: NonNullable<ExecuteOptions["signatureCheck"]>,
  ) {}

  /** Items recorded in this slot so far, and items the bank refused without a fee. */
  get counts(): { readonly recorded: number; readonly refused: number } {
    return this.outcome;
  }

  get computeUnits(): bigint {
    return this.computeUnitsUsed;
  }

  /**
   * Executes the best items that fit, chunk by chunk, until `timeIsUp()` or
   * nothing more fits; returns the items that paid a fee, in execution order —
   * what the next TransactionEntry records.
   */
  executeDue(timeIsUp: () => boolean): tx.TransactionItem[] {
    const recorded: FedItem[] = [];
    let bytes = this.limits.entryBytes;
    while (!timeIsUp()) {
      const taken = this.pool.take({
        computeUnits: this.limits.maxSlotComputeUnits - this.computeUnitsUsed,
        bytes,
        maxItems: this.limits.chunkItems,
      });
      if (taken.length === 0) break;
      const executions = this.bank.executeItems(
        taken.map((item) => item.item),
        { signatureCheck: this.signatureCheck },
      );
      taken.forEach((item, i) => {
        const { results, charged } = executions[i]!;
        const fate = fateOf(results, charged);
        this.pool.settle(item, fate);
        if (fate !== "executed") {
          this.outcome.refused += 1;
          return;
        }
        recorded.push(item);
        this.computeUnitsUsed += BigInt(item.computeUnits);
        bytes -= item.bytes;
      });
    }
    this.outcome.recorded += recorded.length;
    return recorded.map((item) => item.item);
  }
}
