import { reachesTwoThirds, type StakeTable } from "@simd23/core";

/**
 * The newest root held by the towers of at least 2/3 of stake (each
 * validator's newest vote's root): every fork an honest supermajority can
 * still vote on descends from it, so a sync leader roots its banks there.
 */
export class SupermajorityRoot {
  private readonly roots = new Map<number, { readonly voteSlot: number; readonly root: number }>();

  constructor(private readonly stakes: StakeTable) {}

  /** A verified vote (its validator's genesis index), with its tower's root. */
  offer(validatorIndex: number, voteSlot: number, root: number | null): void {
    if (root === null || validatorIndex < 0) return;
    const previous = this.roots.get(validatorIndex);
    if (previous !== undefined && previous.voteSlot >= voteSlot) return;
    this.roots.set(validatorIndex, { voteSlot, root });
  }

  /** 0 until 2/3 of stake's towers have a root. */
  get root(): number {
    const held = [...this.roots.entries()]
      .map(([index, { root }]) => ({ root, stake: this.stakes.stakeAt(index) }))
      .sort((a, b) => b.root - a.root);
    let stake = 0n;
    for (const { root, stake: s } of held) {
      stake += s;
      if (reachesTwoThirds(stake, this.stakes.total)) return root;
    }
    return 0;
  }
}
