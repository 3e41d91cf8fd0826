import { toHex, type VerifiedVote } from "@simd23/core";

export type VoteOffer = "queued" | "replaced" | "not-newer";

/**
 * Each validator's newest verified vote, and which of them a slot should
 * record: a vote is recorded once per chain — a slot records the validator's
 * newest vote when its chain (the slot's ancestors, and the slot so far) does
 * not already hold that vote or a newer one. A vote recorded only on another
 * fork is recorded again on this one, since fork choice and the ledger's
 * readers see each chain's votes.
 */
export class VoteBox {
  private readonly newest = new Map<string, VerifiedVote>();

  get size(): number {
    return this.newest.size;
  }

  offer(vote: VerifiedVote): VoteOffer {
    const id = toHex(vote.vote.validator);
    const current = this.newest.get(id);
    if (current !== undefined && vote.vote.slot <= current.vote.slot) return "not-newer";
    this.newest.set(id, vote);
    return current === undefined ? "queued" : "replaced";
  }

  /**
   * The votes slot `slot` should record, given the newest vote slot of each
   * validator (hex) its chain already holds: those for slots before `slot` and
   * newer than the chain's, in genesis validator order (a deterministic batch).
   */
  dueFor(slot: number, onChain: ReadonlyMap<string, number>): VerifiedVote[] {
    return [...this.newest.entries()]
      .filter(([id, vote]) => vote.vote.slot < slot && vote.vote.slot > (onChain.get(id) ?? -1))
      .map(([, vote]) => vote)
      .sort((a, b) => a.validatorIndex - b.validatorIndex);
  }

  /** Forgets votes for slots before `slot`: too old to be worth recording. */
  forgetBefore(slot: number): void {
    for (const [id, vote] of this.newest) if (vote.vote.slot < slot) this.newest.delete(id);
  }
}
