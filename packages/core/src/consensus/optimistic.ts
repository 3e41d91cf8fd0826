import { type ForkChoiceView, HeaviestSubtreeForkChoice, type UnknownValidatorError } from "./fork-choice.js";
import type { ForkTreeError, SetRootResult } from "./fork-tree.js";
import { reachesTwoThirds, type StakeTable } from "./stake.js";
import type { VerifiedVote } from "./vote.js";

export type ConfirmationUpdate =
  | { readonly ok: true; readonly confirmed: readonly number[] }
  | { readonly ok: false; readonly error: ForkTreeError | UnknownValidatorError };

/**
 * Optimistic confirmation: slot s is confirmed once validators holding at least 2/3 of stake have
 * a latest vote on s or a descendant of s (3·stake ≥ 2·total). Votes are the already-verified
 * ones; each validator counts once, with its newest vote. Each slot is reported once, when it
 * crosses; a confirmed slot's ancestors are confirmed with it (they carry at least its stake).
 * The root given at construction is taken as confirmed.
 */
export class OptimisticConfirmationTracker {
  private readonly choice: HeaviestSubtreeForkChoice;
  private readonly confirmedSlots = new Set<number>();
  private highest: number;

  constructor(
    private readonly stakes: StakeTable,
    root: number,
  ) {
    this.choice = new HeaviestSubtreeForkChoice(stakes, root);
    this.confirmedSlots.add(root);
    this.highest = root;
  }

  /** The fork choice the tracker keeps (its tree and stakes); change it only through the tracker. */
  get forkChoice(): ForkChoiceView {
    return this.choice;
  }

  get highestConfirmed(): number {
    return this.highest;
  }

  isConfirmed(slot: number): boolean {
    return this.confirmedSlots.has(slot);
  }

  addSlot(slot: number, parent: number): ConfirmationUpdate {
    const result = this.choice.addSlot(slot, parent);
    if (!result.ok) return result;
    return { ok: true, confirmed: result.added ? this.confirmFrom(slot) : [] };
  }

  recordVote(validator: Uint8Array, slot: number): ConfirmationUpdate {
    const result = this.choice.recordVote(validator, slot);
    if (!result.ok) return result;
    return { ok: true, confirmed: result.counted ? this.confirmFrom(slot) : [] };
  }

  setRoot(slot: number): SetRootResult {
    const result = this.choice.setRoot(slot);
    if (result.ok) {
      for (const confirmed of [...this.confirmedSlots]) {
        if (!this.choice.tree.has(confirmed)) this.confirmedSlots.delete(confirmed);
      }
      // The new root is settled history: it counts as confirmed even if its votes were not all seen.
      this.confirmedSlots.add(slot);
      if (slot > this.highest) this.highest = slot;
    }
    return result;
  }

  // Stake only grew on slot and its ancestors; the confirmed set is closed under ancestors, so the
  // walk up stops at the first confirmed slot.
  private confirmFrom(slot: number): number[] {
    const { tree } = this.choice;
    if (!tree.has(slot)) return [];
    const newly: number[] = [];
    for (let s: number | undefined = slot; s !== undefined; s = tree.parentOf(s)) {
      if (this.confirmedSlots.has(s)) break;
      if (reachesTwoThirds(this.choice.subtreeStake(s), this.stakes.total)) newly.push(s);
    }
    newly.reverse();
    for (const s of newly) {
      this.confirmedSlots.add(s);
      if (s > this.highest) this.highest = s;
    }
    return newly;
  }
}

/** A slot of one chain as `optimisticallyConfirmedThrough` reads it: its number and the votes it recorded. */
export interface SlotWithVotes {
  readonly slot: number;
  readonly votes: readonly {
    readonly votes: readonly Pick<VerifiedVote, "vote" | "validatorIndex" | "stake">[];
  }[];
}

/**
 * The newest slot of a chain (its slots, any order) that the chain itself shows optimistically
 * confirmed: validators holding at least 2/3 of `totalStake` have a vote, recorded in a slot of
 * the chain, for that slot or a later slot of the chain. Every earlier slot of the chain is
 * confirmed with it. 0 when none is. Votes for slots off the chain count for nothing; each
 * validator counts once, with its newest vote on the chain.
 */
export function optimisticallyConfirmedThrough(chain: readonly SlotWithVotes[], totalStake: bigint): number {
  const onChain = new Set(chain.map((s) => s.slot));
  const newestVote = new Map<number, { slot: number; stake: bigint }>();
  for (const slot of chain)
    for (const entry of slot.votes)
      for (const { vote, validatorIndex, stake } of entry.votes) {
        if (!onChain.has(vote.slot)) continue;
        const seen = newestVote.get(validatorIndex);
        if (seen === undefined || seen.slot < vote.slot)
          newestVote.set(validatorIndex, { slot: vote.slot, stake });
      }
  let stake = 0n;
  for (const vote of [...newestVote.values()].sort((a, b) => b.slot - a.slot)) {
    stake += vote.stake;
    if (reachesTwoThirds(stake, totalStake)) return vote.slot;
  }
  return 0;
}
