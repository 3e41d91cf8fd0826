import { bytesEqual, optimisticallyConfirmedThrough, type SlotRecord } from "@simd23/core";
import type { PendingItem } from "./intake-book.js";

/** A UserBlock this replica published, waiting to learn whether the ledger recorded it. */
export interface ProposedBlock {
  readonly userBlockSlot: number;
  readonly proposer: Uint8Array;
  readonly blockHash: Uint8Array;
  readonly items: readonly PendingItem[];
  /** The genesis name of the proposer (`proposer-<i>`), for metrics. */
  readonly proposerName: string;
  /** Set once the USERBLOCKS stream stored it (a withheld or failed publication never is). */
  published: boolean;
}

export type BlockOutcome =
  | { readonly block: ProposedBlock; readonly recorded: true; readonly slot: number }
  | {
      readonly block: ProposedBlock;
      readonly recorded: false;
      /** `not_recorded`: the slot that records its UserBlockSlot has no entry for it; `skipped`: that slot is not on the chain. */
      readonly reason: "not_recorded" | "skipped";
    };

/** The slot whose UserBlockEntries cover a UserBlockSlot: slot s records 2s − 1 and 2s. */
export function recordingSlotOf(userBlockSlot: number): number {
  return Math.ceil(userBlockSlot / 2);
}

/** One slot of a chain, as settling needs it. */
export type ChainSlot = Pick<SlotRecord, "slot" | "userBlockSlots" | "votes">;

/**
 * The UserBlocks this replica published and not yet settled, settled against
 * the chain of the ledger's tip (newest slot first). With `r` the slot that
 * records a block's UserBlockSlot:
 *
 * - **not recorded** as soon as the chain has a slot after `r` but not `r` (it
 *   was skipped, or the chain abandoned it), or has `r` without the block's
 *   UserBlockEntry (late, refused);
 * - **recorded** when `r` holds its entry and is optimistically confirmed on
 *   the chain (`optimisticallyConfirmedThrough`): the cluster cannot abandon it unless more
 *   than 1/3 of stake breaks its lockouts. A fork that is abandoned before that
 *   gives its blocks back as not recorded, and their items are proposed again.
 *   Where no votes come (a cluster without validators, or one that stopped
 *   voting), a block also counts as recorded once the chain is `backstopSlots`
 *   past `r` — the blockhash validity window, after which its items could not
 *   be recorded again anyway.
 */
export class ProposedBlocks {
  private readonly blocks = new Map<number, ProposedBlock[]>();

  constructor(
    private readonly totalStake: bigint,
    private readonly backstopSlots: number,
  ) {}

  get size(): number {
    let count = 0;
    for (const list of this.blocks.values()) count += list.length;
    return count;
  }

  add(block: ProposedBlock): void {
    const list = this.blocks.get(block.userBlockSlot) ?? [];
    list.push(block);
    this.blocks.set(block.userBlockSlot, list);
  }

  /** Forgets the blocks of a proposer identity this replica no longer holds, unsettled. */
  forgetProposer(proposer: Uint8Array): ProposedBlock[] {
    const forgotten: ProposedBlock[] = [];
    for (const [u, list] of this.blocks) {
      const kept = list.filter((block) => !bytesEqual(block.proposer, proposer));
      forgotten.push(...list.filter((block) => bytesEqual(block.proposer, proposer)));
      if (kept.length === 0) this.blocks.delete(u);
      else this.blocks.set(u, kept);
    }
    return forgotten;
  }

  /** Settles every block the chain (its slots, newest first) now decides; they are forgotten. */
  settle(chain: readonly ChainSlot[]): BlockOutcome[] {
    const tip = chain[0];
    // Every slot: with nothing to settle, the chain's votes are not read.
    if (tip === undefined || this.blocks.size === 0) return [];
    const bySlot = new Map(chain.map((slot) => [slot.slot, slot]));
    const confirmed = optimisticallyConfirmedThrough(chain, this.totalStake);
    const outcomes: BlockOutcome[] = [];
    for (const [u, list] of [...this.blocks].sort((a, b) => a[0] - b[0])) {
      const slot = recordingSlotOf(u);
      if (tip.slot < slot) continue;
      const recording = bySlot.get(slot);
      if (recording === undefined) {
        if (tip.slot === slot) continue;
        this.blocks.delete(u);
        for (const block of list) outcomes.push({ block, recorded: false, reason: "skipped" });
        continue;
      }
      const settled = slot <= confirmed || tip.slot - slot >= this.backstopSlots;
      const entries = recording.userBlockSlots.find((s) => s.userBlockSlot === u)?.entries ?? [];
      const kept: ProposedBlock[] = [];
      for (const block of list) {
        const recorded = entries.some(
          (entry) =>
            bytesEqual(entry.proposer, block.proposer) && bytesEqual(entry.blockHash, block.blockHash),
        );
        if (!recorded) outcomes.push({ block, recorded: false, reason: "not_recorded" });
        else if (settled) outcomes.push({ block, recorded: true, slot });
        else kept.push(block);
      }
      if (kept.length === 0) this.blocks.delete(u);
      else this.blocks.set(u, kept);
    }
    return outcomes;
  }
}
