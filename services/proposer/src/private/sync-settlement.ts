import { bytesEqual, type SlotRecord, toHex } from "@simd23/core";
import type { tx } from "@simd23/proto";

/** One slot of the tip's chain, as sync settling needs it. */
export type SyncChainSlot = Pick<SlotRecord, "slot" | "leader" | "transactionEntries">;

/** The key the intake book files an item under: the hex id of its first transaction. */
export function itemKey(item: tx.TransactionItem): string | undefined {
  const first =
    item.item?.$case === "transaction"
      ? item.item.value
      : item.item?.$case === "bundle"
        ? item.item.value.transactions[0]
        : undefined;
  const id = first?.signatures[0];
  return id === undefined ? undefined : toHex(id);
}

export interface SyncSettlementUpdate {
  /** Keys newly held by a settled slot of the tip's chain, with that slot: those items are done. */
  readonly settled: ReadonlyMap<string, number>;
  /** Keys held by a slot of the tip's chain that is not settled yet. */
  readonly recorded: ReadonlySet<string>;
}

/**
 * Sync mode's settling (the counterpart of ProposedBlocks): an item is done
 * once a TransactionEntry of a settled slot of the tip's chain holds it — a
 * slot is settled when the chain is `depth` slots past it or another leader
 * built on it, the rule UserBlocks settle by. Until then it is recorded while
 * an unsettled slot of the chain holds it, and fed again when that slot leaves
 * the chain. Settled keys are remembered (until forgotten below a slot), so an
 * item taken over later — a crashed replica's intake — is known done at once.
 */
export class SyncSettlement {
  private readonly settledKeys = new Map<string, number>();
  private readonly settledSlots = new Set<number>();
  private readonly keysOfSlot = new Map<number, readonly string[]>();

  constructor(private readonly depth: number) {}

  /** The slot of the settled TransactionEntry that holds this key, if any. */
  settledIn(key: string): number | undefined {
    return this.settledKeys.get(key);
  }

  /** Given the tip's chain, newest first: what it newly settled, and what it holds unsettled. */
  update(chain: readonly SyncChainSlot[]): SyncSettlementUpdate {
    const settled = new Map<string, number>();
    const recorded = new Set<string>();
    const tip = chain[0];
    if (tip === undefined) return { settled, recorded };
    let newestOtherLeader: number | undefined;
    for (let i = 0; i < chain.length; i++) {
      const slot = chain[i]!;
      // Settling is monotone along a chain: below a slot settled before, everything was settled then.
      if (this.settledSlots.has(slot.slot)) break;
      const later = chain[i - 1];
      if (later !== undefined && !bytesEqual(later.leader, slot.leader))
        newestOtherLeader = Math.max(newestOtherLeader ?? 0, later.slot);
      const isSettled = tip.slot - slot.slot >= this.depth || newestOtherLeader !== undefined;
      const keys = this.keysOf(slot);
      if (!isSettled) {
        for (const key of keys) recorded.add(key);
        continue;
      }
      this.settledSlots.add(slot.slot);
      for (const key of keys) {
        if (this.settledKeys.has(key)) continue;
        this.settledKeys.set(key, slot.slot);
        settled.set(key, slot.slot);
      }
    }
    return { settled, recorded };
  }

  /** Forgets slots below `slot` and the keys they settled: no item naming them can still be pending. */
  forgetBelow(slot: number): void {
    for (const kept of this.settledSlots) if (kept < slot) this.settledSlots.delete(kept);
    for (const kept of this.keysOfSlot.keys()) if (kept < slot) this.keysOfSlot.delete(kept);
    for (const [key, settledIn] of this.settledKeys) if (settledIn < slot) this.settledKeys.delete(key);
  }

  private keysOf(slot: SyncChainSlot): readonly string[] {
    let keys = this.keysOfSlot.get(slot.slot);
    if (keys === undefined) {
      keys = slot.transactionEntries.flatMap((entry) => entry.items.flatMap((item) => itemKey(item) ?? []));
      this.keysOfSlot.set(slot.slot, keys);
    }
    return keys;
  }
}
