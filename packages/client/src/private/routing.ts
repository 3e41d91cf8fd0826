import { routeTransaction, toHex } from "@simd23/core";
import type { proposer } from "@simd23/proto";
import { ConnectionError } from "../errors.js";

export type ProposerStatusFetcher = (address: string) => Promise<proposer.GetProposerStatusResponse>;

/**
 * Where a client sends a transaction (design.md §3, duplicate-spam control): to the active
 * proposer its fee payer routes to, found by identity among the configured endpoints, then to
 * every other endpoint (any proposer forwards what is not its own), unreachable ones last.
 * Identities and the active set come from GetProposerStatus on every endpoint; the set is the one
 * reported for the newest UserBlockSlot. A refresh runs when the view is older than
 * `refreshIntervalMs` and whenever a proposer refuses as unscheduled or cannot be reached.
 */
export class ProposerRouter {
  private readonly identityByAddress = new Map<string, Uint8Array>();
  private readonly addressByIdentity = new Map<string, string>();
  private readonly unreachable = new Set<string>();
  private active: readonly Uint8Array[] = [];
  private activeUserBlockSlot = -1;
  private refreshedAtMs: number | undefined;
  private pending: Promise<void> | undefined;

  constructor(
    readonly addresses: readonly string[],
    private readonly fetchStatus: ProposerStatusFetcher,
    private readonly refreshIntervalMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The active proposer set, in schedule order, as last learned. */
  get activeProposers(): readonly Uint8Array[] {
    return this.active;
  }

  identityOf(address: string): Uint8Array | undefined {
    return this.identityByAddress.get(address);
  }

  isUnreachable(address: string): boolean {
    return this.unreachable.has(address);
  }

  /** Asks every endpoint for its status; concurrent callers share one round. */
  refresh(): Promise<void> {
    this.pending ??= this.refreshOnce().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Refreshes when the view is missing or older than the refresh interval. */
  async ensureFresh(): Promise<void> {
    if (this.refreshedAtMs === undefined || this.now() - this.refreshedAtMs >= this.refreshIntervalMs)
      await this.refresh();
  }

  markUnreachable(address: string): void {
    this.unreachable.add(address);
  }

  private async refreshOnce(): Promise<void> {
    const results = await Promise.allSettled(this.addresses.map((address) => this.fetchStatus(address)));
    let newest: proposer.GetProposerStatusResponse | undefined;
    results.forEach((result, i) => {
      const address = this.addresses[i]!;
      if (result.status === "rejected") {
        if (result.reason instanceof ConnectionError) this.unreachable.add(address);
        return;
      }
      this.unreachable.delete(address);
      const status = result.value;
      if (status.identity.length > 0) {
        const previous = this.identityByAddress.get(address);
        if (previous !== undefined && this.addressByIdentity.get(toHex(previous)) === address)
          this.addressByIdentity.delete(toHex(previous));
        this.identityByAddress.set(address, status.identity);
        this.addressByIdentity.set(toHex(status.identity), address);
      }
      if (
        status.activeProposers.length > 0 &&
        (newest === undefined || status.userBlockSlot > newest.userBlockSlot)
      )
        newest = status;
    });
    // A set reported for an older UserBlockSlot than the one held (a lagging proposer) is stale.
    if (newest !== undefined && newest.userBlockSlot >= this.activeUserBlockSlot) {
      this.active = newest.activeProposers;
      this.activeUserBlockSlot = newest.userBlockSlot;
    }
    this.refreshedAtMs = this.now();
  }

  /** The endpoint of the proposer the fee payer routes to, when it is one of ours. */
  routedAddress(feePayer: Uint8Array): string | undefined {
    const identity = routeTransaction(feePayer, this.active);
    return identity === undefined ? undefined : this.addressByIdentity.get(toHex(identity));
  }

  /** Every endpoint, in the order to try them for a transaction of this fee payer. */
  candidates(feePayer: Uint8Array): string[] {
    const routed = this.routedAddress(feePayer);
    const ordered =
      routed === undefined ? [...this.addresses] : [routed, ...this.addresses.filter((a) => a !== routed)];
    return [
      ...ordered.filter((a) => !this.unreachable.has(a)),
      ...ordered.filter((a) => this.unreachable.has(a)),
    ];
  }
}
