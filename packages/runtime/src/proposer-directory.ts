import { type Genesis, toBase58 } from "@simd23/core";
import { jsonCodec, type Member, membershipKey, type Store } from "@simd23/store";

/** A live proposer replica: the pool key it holds and where its gRPC answers. */
export interface ProposerEntry {
  readonly poolIndex: number;
  /** base58 identity */
  readonly identity: string;
  /** host:port of its ProposerService */
  readonly address: string;
  /** A unique id of the replica process, so a restarted process does not take over a live claim. */
  readonly replica: string;
}

const directoryKey = membershipKey<ProposerEntry>("proposers", jsonCodec<ProposerEntry>());

/**
 * Which proposer replica holds which pool key, with an expiring lease (Redis's
 * clock). A replica claims a free pool key exclusively, renews it while it
 * runs, and loses it — to be claimed by another replica — if it stops renewing.
 */
export class ProposerDirectory {
  constructor(
    private readonly store: Store,
    private readonly genesis: Genesis,
  ) {}

  /** Claims the lowest free pool index (a previous claim by the same replica id counts as free). */
  async claim(
    replica: string,
    address: string,
    leaseMs: number,
    preferred?: number,
  ): Promise<ProposerEntry | undefined> {
    const order = [...this.genesis.proposerPool.keys()];
    if (preferred !== undefined && preferred < order.length) order.unshift(...order.splice(preferred, 1));
    for (const poolIndex of order) {
      const entry: ProposerEntry = {
        poolIndex,
        identity: toBase58(this.genesis.proposerPool[poolIndex]!.identity),
        address,
        replica,
      };
      if (await this.store.join(directoryKey, String(poolIndex), entry, { ttlMs: leaseMs, exclusive: true }))
        return entry;
    }
    return undefined;
  }

  /** Renews the lease; false when it was lost (expired and taken, or never held). */
  renew(entry: ProposerEntry, leaseMs: number): Promise<boolean> {
    return this.store.renew(directoryKey, String(entry.poolIndex), entry, { ttlMs: leaseMs });
  }

  release(entry: ProposerEntry): Promise<boolean> {
    return this.store.leave(directoryKey, String(entry.poolIndex), entry);
  }

  async list(): Promise<ProposerEntry[]> {
    const members: Member<ProposerEntry>[] = await this.store.members(directoryKey);
    return members.map((member) => member.data);
  }

  async addressOf(identity: Uint8Array): Promise<string | undefined> {
    const id = toBase58(identity);
    return (await this.list()).find((entry) => entry.identity === id)?.address;
  }
}
