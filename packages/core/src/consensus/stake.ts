import type { Genesis } from "../genesis.js";

/**
 * Stake thresholds as exact integer comparisons: the cluster's safety rests on these
 * boundaries, so no fraction is ever rounded.
 */

/** `part > total / 3`, as `3·part > total`. */
export function exceedsOneThird(part: bigint, total: bigint): boolean {
  return 3n * part > total;
}

/** `part ≥ 2/3 · total`, as `3·part ≥ 2·total`. */
export function reachesTwoThirds(part: bigint, total: bigint): boolean {
  return 3n * part >= 2n * total;
}

const keyId = (key: Uint8Array): string =>
  Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("hex");

/** The genesis validators by identity: index (genesis order, the deterministic order of every list), stake. */
export class StakeTable {
  readonly total: bigint;
  readonly size: number;
  private readonly indexById: ReadonlyMap<string, number>;
  private readonly stakes: readonly bigint[];
  private readonly identities: readonly Uint8Array[];

  constructor(genesis: Genesis) {
    this.identities = genesis.validators.map((v) => v.identity);
    this.stakes = genesis.validators.map((v) => v.stake);
    this.indexById = new Map(this.identities.map((identity, i) => [keyId(identity), i]));
    this.total = this.stakes.reduce((sum, stake) => sum + stake, 0n);
    this.size = this.identities.length;
  }

  /** Index of a validator in genesis order, or -1 for a key that is not a validator. */
  indexOf(identity: Uint8Array): number {
    return this.indexById.get(keyId(identity)) ?? -1;
  }

  stakeAt(index: number): bigint {
    const stake = this.stakes[index];
    if (stake === undefined) throw new RangeError(`no validator at index ${index}`);
    return stake;
  }

  identityAt(index: number): Uint8Array {
    const identity = this.identities[index];
    if (identity === undefined) throw new RangeError(`no validator at index ${index}`);
    return identity;
  }
}

const tables = new WeakMap<Genesis, StakeTable>();

/** The stake table of a genesis, built once per genesis object. */
export function stakeTableOf(genesis: Genesis): StakeTable {
  let table = tables.get(genesis);
  if (table === undefined) {
    table = new StakeTable(genesis);
    tables.set(genesis, table);
  }
  return table;
}
