import { type AddSlotResult, ForkTree, type ForkTreeView, type SetRootResult } from "./fork-tree.js";
import type { StakeTable } from "./stake.js";
import { lastVotedSlot, type Tower, type TowerRefusal, voteRefusal } from "./tower.js";

export type VoteRecordResult =
  | { readonly ok: true; readonly counted: boolean }
  | { readonly ok: false; readonly error: UnknownValidatorError };

export class UnknownValidatorError extends Error {
  readonly code = "unknown-validator";
  constructor() {
    super("the voter is not a genesis validator");
    this.name = "UnknownValidatorError";
  }
}

/** Slots a validator cannot vote on (missing UserBlocks, dead): the fork from there is ignored until repaired. */
export type IgnoredSlot = (slot: number) => boolean;

const NOTHING_IGNORED: IgnoredSlot = () => false;

/**
 * Heaviest-subtree fork choice, as Solana's: each validator's latest vote adds its stake to the
 * voted slot and every ancestor; the best fork descends from the root into the heaviest child,
 * the lower slot on equal stake. A vote counts only when newer (higher slot) than the validator's
 * latest, so the outcome depends on the set of latest votes, not on their order; a vote on a slot
 * not yet in the tree is kept and weighs in once the slot is added.
 */
export class HeaviestSubtreeForkChoice {
  private readonly forks: ForkTree;
  private readonly latest = new Map<number, number>();
  // Stake of latest votes on exactly this slot, whether or not the slot is in the tree yet.
  private readonly stakeOnSlot = new Map<number, bigint>();
  // Stake of latest votes on this slot or a descendant, for slots in the tree.
  private readonly subtree = new Map<number, bigint>();

  constructor(
    private readonly stakes: StakeTable,
    root: number,
  ) {
    this.forks = new ForkTree(root);
    this.subtree.set(root, 0n);
  }

  get tree(): ForkTreeView {
    return this.forks;
  }

  get root(): number {
    return this.forks.root;
  }

  addSlot(slot: number, parent: number): AddSlotResult {
    const result = this.forks.addSlot(slot, parent);
    if (result.ok && result.added) {
      this.subtree.set(slot, 0n);
      this.addAlongPath(slot, this.stakeOnSlot.get(slot) ?? 0n);
    }
    return result;
  }

  /** Records a validator's vote on slot; counted only if newer than its latest vote. */
  recordVote(validator: Uint8Array, slot: number): VoteRecordResult {
    const index = this.stakes.indexOf(validator);
    if (index < 0) return { ok: false, error: new UnknownValidatorError() };
    const previous = this.latest.get(index);
    if (previous !== undefined && slot <= previous) return { ok: true, counted: false };
    const stake = this.stakes.stakeAt(index);
    if (previous !== undefined) {
      const onPrevious = this.stakeOnSlot.get(previous);
      if (onPrevious !== undefined) {
        if (onPrevious === stake) this.stakeOnSlot.delete(previous);
        else this.stakeOnSlot.set(previous, onPrevious - stake);
        this.addAlongPath(previous, -stake);
      }
    }
    this.latest.set(index, slot);
    this.stakeOnSlot.set(slot, (this.stakeOnSlot.get(slot) ?? 0n) + stake);
    this.addAlongPath(slot, stake);
    return { ok: true, counted: true };
  }

  /** Prunes every fork that does not descend from the new root. */
  setRoot(slot: number): SetRootResult {
    const result = this.forks.setRoot(slot);
    if (result.ok) {
      for (const pruned of result.pruned) this.subtree.delete(pruned);
      // Votes on pruned or older slots never weigh in again; the validators' newer votes replace them.
      const gone = new Set(result.pruned);
      for (const votedSlot of [...this.stakeOnSlot.keys()]) {
        if (votedSlot < slot || gone.has(votedSlot)) this.stakeOnSlot.delete(votedSlot);
      }
    }
    return result;
  }

  /** The slot of a validator's latest counted vote. */
  latestVote(validator: Uint8Array): number | undefined {
    const index = this.stakes.indexOf(validator);
    return index < 0 ? undefined : this.latest.get(index);
  }

  /** Stake of the latest votes on slot or a descendant; 0 for a slot not in the tree. */
  subtreeStake(slot: number): bigint {
    return this.subtree.get(slot) ?? 0n;
  }

  /** The tip of the best fork: from the root, into the heaviest child that is not ignored (lower slot on a tie). */
  bestSlot(ignored: IgnoredSlot = NOTHING_IGNORED): number {
    let slot = this.forks.root;
    for (;;) {
      let best: number | undefined;
      for (const child of this.forks.childrenOf(slot)) {
        if (ignored(child)) continue;
        if (best === undefined || this.subtreeStake(child) > this.subtreeStake(best)) best = child;
      }
      if (best === undefined) return slot;
      slot = best;
    }
  }

  private addAlongPath(slot: number, delta: bigint): void {
    if (delta === 0n || !this.forks.has(slot)) return;
    for (let s: number | undefined = slot; s !== undefined; s = this.forks.parentOf(s)) {
      this.subtree.set(s, this.subtree.get(s)! + delta);
    }
  }
}

/** What readers of a fork choice may ask; only its owner records votes and slots. */
export type ForkChoiceView = Pick<
  HeaviestSubtreeForkChoice,
  "tree" | "root" | "bestSlot" | "subtreeStake" | "latestVote"
>;

export type VoteDecision =
  | { readonly vote: true; readonly slot: number }
  | {
      readonly vote: false;
      readonly bestSlot: number;
      readonly reason: "nothing-new" | TowerRefusal;
      readonly detail: string;
    };

/**
 * What a validator does now: vote on the best fork's tip if its tower allows, otherwise wait (no
 * vote) — until its lockouts expire or the fork choice moves. Waits with "nothing-new" when the tip
 * is the root, its last vote or an ancestor of it.
 */
export function decideVote(
  forkChoice: ForkChoiceView,
  tower: Tower,
  ignored: IgnoredSlot = NOTHING_IGNORED,
): VoteDecision {
  const { tree } = forkChoice;
  const bestSlot = forkChoice.bestSlot(ignored);
  const last = lastVotedSlot(tower);
  if (bestSlot === tree.root || (last !== null && tree.isAncestorOrSelf(bestSlot, last))) {
    return {
      vote: false,
      bestSlot,
      reason: "nothing-new",
      detail: `the best fork ends at ${bestSlot}, already voted`,
    };
  }
  const refusal = voteRefusal(tower, bestSlot, tree.ancestors(bestSlot));
  if (refusal !== null) return { vote: false, bestSlot, reason: refusal.code, detail: refusal.message };
  return { vote: true, slot: bestSlot };
}
