import type { Bus, Consumer } from "@simd23/bus";
import type { Genesis, Keypair } from "@simd23/core";
import {
  type ProposerDirectory,
  type ProposerEntry,
  proposerKeypair,
  SignedPublisher,
} from "@simd23/runtime";
import type { Logger } from "@simd23/service-kit";
import type { Store } from "@simd23/store";
import { intakeMarkerKey } from "./intake-wire.js";

/** A pool key this replica holds: its own (it proposes as it) or adopted (it finishes its intake). */
export interface HeldKey {
  readonly entry: ProposerEntry;
  readonly keypair: Keypair;
  /** `proposer-<i>`: the genesis name, the metrics label. */
  readonly name: string;
  /** Own: this replica proposes as it. Adopted: only its INTAKE is finished here; it becomes own when claimed as such. */
  own: boolean;
  readonly publisher: SignedPublisher;
  readonly claimedAtMs: number;
  /** The INTAKE consumer of its pool index, while open. */
  consumer: Consumer | undefined;
  lastDeliveryMs: number;
}

export interface PoolKeysOptions {
  readonly genesis: Genesis;
  readonly clusterSeed: Uint8Array;
  readonly bus: Bus;
  readonly store: Store;
  readonly directory: ProposerDirectory;
  readonly logger: Logger;
  /** Names this replica in the directory. */
  readonly replicaId: string;
  readonly advertiseAddress: string;
  readonly leaseMs: number;
  /** An adopted key is released once nothing was delivered on it for this long (the INTAKE ack wait plus a margin). */
  readonly quietBeforeReleaseMs: number;
  /** Opens the key's durable INTAKE consumer (the replica owns the handler). */
  readonly openIntake: (held: HeldKey) => Promise<void>;
  /** How many items stored under a pool index are still pending here. */
  readonly pendingOf: (poolIndex: number) => number;
  /** A lease was lost: the replica forgets what it held under that key. */
  readonly onLost: (held: HeldKey) => void;
  /** This replica holds a key of its own (a new one, or an adopted one it took over). */
  readonly onOwnClaimed: (held: HeldKey) => void;
}

/**
 * The pool keys one replica holds, as exclusive leases in the ProposerDirectory:
 *
 * - its **own** key, claimed at start (the lowest free one), renewed while it
 *   runs; lost (the lease expired and someone else took it), the replica stops
 *   using it and claims again;
 * - **adopted** keys: a key nobody holds whose marker says its INTAKE may hold
 *   items a replica did not finish (it was killed) is claimed by a live
 *   replica, which takes the items into its own queue; once nothing more is
 *   delivered for an ack wait and everything taken was finished, the marker is
 *   cleared and the key released.
 *
 * The marker is set when a key is claimed as own and cleared only when a key is
 * given back with nothing left in it, so a replica that dies at any moment
 * leaves its key marked. Claims, adoptions and releases run one at a time.
 */
export class PoolKeys {
  private ownKey: HeldKey | undefined;
  private readonly adoptedKeys = new Map<number, HeldKey>();
  private work: Promise<unknown> = Promise.resolve();
  private claiming: Promise<void> | undefined;

  constructor(private readonly options: PoolKeysOptions) {}

  get own(): HeldKey | undefined {
    return this.ownKey;
  }

  get adopted(): ReadonlyMap<number, HeldKey> {
    return this.adoptedKeys;
  }

  held(): HeldKey[] {
    return [...(this.ownKey ? [this.ownKey] : []), ...this.adoptedKeys.values()];
  }

  identities(): Uint8Array[] {
    return this.held().map((held) => held.keypair.publicKey);
  }

  /** Claims a key of its own, retrying while none is free, until it holds one or `stop()` says so. */
  claimOwn(stop: () => boolean): Promise<void> {
    this.claiming ??= (async () => {
      let warned = false;
      while (!stop() && this.ownKey === undefined) {
        if (await this.exclusive(() => this.tryClaimOwn())) return;
        if (!warned) {
          this.options.logger.warn(
            { pool: this.options.genesis.proposerPool.length },
            "no free pool key: waiting as a standby until one is free",
          );
          warned = true;
        }
        await new Promise((resolve) => setTimeout(resolve, this.options.leaseMs / 2));
      }
    })().finally(() => {
      this.claiming = undefined;
    });
    return this.claiming;
  }

  /** Renews every lease; a lease found lost is given up. */
  async renew(): Promise<void> {
    for (const held of this.held()) {
      let renewed: boolean;
      try {
        renewed = await this.options.directory.renew(held.entry, this.options.leaseMs);
      } catch (error) {
        this.options.logger.warn(
          { err: error, poolIndex: held.entry.poolIndex },
          "renewing a pool-key lease failed",
        );
        continue;
      }
      if (!renewed) await this.exclusive(() => this.lose(held));
    }
  }

  /** Releases finished adoptions, then adopts every unheld key with a marker. */
  scan(): Promise<void> {
    return this.exclusive(async () => {
      await this.releaseFinishedAdoptions();
      let heldByAnyone: Set<number>;
      try {
        heldByAnyone = new Set((await this.options.directory.list()).map((entry) => entry.poolIndex));
      } catch (error) {
        this.options.logger.warn({ err: error }, "reading the proposer directory failed");
        return;
      }
      for (let poolIndex = 0; poolIndex < this.options.genesis.proposerPool.length; poolIndex++) {
        if (!heldByAnyone.has(poolIndex)) await this.tryAdopt(poolIndex);
      }
    });
  }

  /**
   * Gives every key back (shutdown): its consumer stops, its marker is cleared
   * when nothing is left pending under it, and its lease is released. Returns
   * what was left per pool index.
   */
  releaseAll(): Promise<{ readonly poolIndex: number; readonly left: number }[]> {
    return this.exclusive(async () => {
      const report = [];
      for (const held of this.held()) {
        const left = this.options.pendingOf(held.entry.poolIndex);
        await this.release(held, left === 0);
        report.push({ poolIndex: held.entry.poolIndex, left });
      }
      this.ownKey = undefined;
      this.adoptedKeys.clear();
      return report;
    });
  }

  private async tryClaimOwn(): Promise<boolean> {
    const { directory, replicaId, advertiseAddress, leaseMs } = this.options;
    let entry: ProposerEntry | undefined;
    try {
      entry = await directory.claim(replicaId, advertiseAddress, leaseMs);
    } catch (error) {
      this.options.logger.warn({ err: error }, "claiming a pool key failed; retrying");
      return false;
    }
    if (entry === undefined) return false;
    const adopted = this.adoptedKeys.get(entry.poolIndex);
    let held: HeldKey;
    if (adopted !== undefined) {
      // The lowest key free for this replica is one it adopted: it becomes its own, intake and all.
      this.adoptedKeys.delete(entry.poolIndex);
      adopted.own = true;
      held = adopted;
    } else {
      held = this.hold(entry, true);
      // Set before any intake: if this replica dies, its pending intake is found and adopted.
      await this.options.store.set(intakeMarkerKey(entry.poolIndex), Date.now());
      await this.options.openIntake(held);
    }
    this.ownKey = held;
    this.options.logger.info(
      { poolIndex: entry.poolIndex, identity: entry.identity, address: entry.address },
      "claimed a pool key",
    );
    this.options.onOwnClaimed(held);
    return true;
  }

  private async tryAdopt(poolIndex: number): Promise<void> {
    const { directory, replicaId, advertiseAddress, leaseMs, store } = this.options;
    const marker = await store.get(intakeMarkerKey(poolIndex)).catch(() => undefined);
    if (marker === undefined) return;
    const entry = await directory
      .claim(replicaId, advertiseAddress, leaseMs, poolIndex)
      .catch(() => undefined);
    if (entry === undefined) return;
    if (entry.poolIndex !== poolIndex) {
      // claim() falls back to another free key: that one is not wanted.
      await directory.release(entry).catch(() => false);
      return;
    }
    const adopted = this.hold(entry, false);
    this.options.logger.info({ poolIndex }, "adopting the pending intake of a pool key nobody holds");
    await this.options.openIntake(adopted);
    this.adoptedKeys.set(poolIndex, adopted);
  }

  private async releaseFinishedAdoptions(): Promise<void> {
    const now = Date.now();
    for (const [poolIndex, held] of this.adoptedKeys) {
      if (now - Math.max(held.claimedAtMs, held.lastDeliveryMs) < this.options.quietBeforeReleaseMs) continue;
      if (this.options.pendingOf(poolIndex) > 0) continue;
      await this.release(held, true);
      this.adoptedKeys.delete(poolIndex);
      this.options.logger.info({ poolIndex }, "finished an adopted pool key's intake: released it");
    }
  }

  /** A lease expired under this replica: whoever holds the key now gets its intake; stop using it. */
  private async lose(held: HeldKey): Promise<void> {
    const poolIndex = held.entry.poolIndex;
    if (this.ownKey === held) this.ownKey = undefined;
    else if (this.adoptedKeys.get(poolIndex) === held) this.adoptedKeys.delete(poolIndex);
    else return;
    this.options.logger.warn({ poolIndex, own: held.own }, "lost a pool-key lease: stopping its use");
    await held.consumer?.stop();
    held.consumer = undefined;
    this.options.onLost(held);
  }

  private async release(held: HeldKey, finished: boolean): Promise<void> {
    await held.consumer?.stop();
    held.consumer = undefined;
    if (finished) await this.options.store.delete(intakeMarkerKey(held.entry.poolIndex)).catch(() => false);
    await this.options.directory.release(held.entry).catch(() => false);
  }

  private hold(entry: ProposerEntry, own: boolean): HeldKey {
    const { genesis, clusterSeed, bus } = this.options;
    const keypair = proposerKeypair(genesis, clusterSeed, entry.poolIndex);
    return {
      entry,
      keypair,
      name: genesis.proposerPool[entry.poolIndex]?.name ?? `proposer-${entry.poolIndex}`,
      own,
      publisher: new SignedPublisher(bus, keypair),
      claimedAtMs: Date.now(),
      consumer: undefined,
      lastDeliveryMs: 0,
    };
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.work.then(work);
    this.work = run.catch(() => undefined);
    return run;
  }
}
