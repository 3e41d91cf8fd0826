/** What a proposer's view of the ledger says about the recent blockhashes an item names. */
export type BlockhashJudgement =
  /** Every one is valid on the tip's chain; `slot` is the oldest one's (the item expires with it). */
  | { readonly status: "valid"; readonly slot: number }
  /** One was the last hash of a slot that is older than the validity window of the tip. */
  | { readonly status: "expired"; readonly slot: number }
  /** One is not (yet) on the tip's chain: the view may lag the client's, or it never existed. */
  | { readonly status: "unknown" };

/**
 * The blockhashes a proposer's ledger view knows: those valid for the slot
 * after the tip (the tip's chain within the validity window, as
 * `LedgerFollower.recentBlockhashes` gives them) and the last hash of every
 * slot it replayed on any fork, kept for twice the window — so a blockhash
 * that aged out is told apart from one the view has not reached yet.
 */
export class BlockhashBook {
  private recent: ReadonlyMap<string, number> = new Map();
  private readonly seen = new Map<string, number>();
  private tipSlot = 0;

  constructor(private readonly validitySlots: number) {}

  get tip(): number {
    return this.tipSlot;
  }

  /** A slot replayed: its last hash (hex) is a blockhash from now on. */
  saw(slot: number, lastHashHex: string): void {
    this.seen.set(lastHashHex, slot);
  }

  /** The tip moved: `recent` is its chain's valid blockhashes (hex → slot). */
  setTip(tip: number, recent: ReadonlyMap<string, number>): void {
    this.tipSlot = tip;
    this.recent = recent;
    const floor = tip - 2 * this.validitySlots;
    for (const [hash, slot] of this.seen) if (slot < floor) this.seen.delete(hash);
  }

  /** Judges every blockhash (hex) of one item; an expired one decides before an unknown one. */
  judge(blockhashes: readonly string[]): BlockhashJudgement {
    let oldest: number | undefined;
    let unknown = false;
    for (const hash of blockhashes) {
      const valid = this.recent.get(hash);
      if (valid !== undefined) {
        oldest = oldest === undefined ? valid : Math.min(oldest, valid);
        continue;
      }
      const slot = this.seen.get(hash);
      if (slot !== undefined && this.tipSlot + 1 - slot > this.validitySlots)
        return { status: "expired", slot };
      unknown = true;
    }
    if (unknown || oldest === undefined) return { status: "unknown" };
    return { status: "valid", slot: oldest };
  }
}

/**
 * Submissions waiting for the proposer's ledger view to learn their blockhash:
 * at most `limit` at once, each woken whenever the tip moves, until it gives up
 * at its deadline. Holding costs a promise and a timer per submission.
 */
export class BlockhashWaits {
  private readonly waiters = new Set<() => void>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.waiters.size;
  }

  get full(): boolean {
    return this.waiters.size >= this.limit;
  }

  /** Resolves at the next tip change, or after `ms`. */
  next(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, Math.max(0, ms));
      this.waiters.add(wake);
    });
  }

  /** The tip moved (or the replica stops): every waiter looks again. */
  wakeAll(): void {
    for (const wake of [...this.waiters]) wake();
  }
}
