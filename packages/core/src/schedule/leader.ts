import { compareBytes, concatBytes, u64le, utf8 } from "../bytes.js";
import { type Genesis, type GenesisValidator, genesisHash } from "../genesis.js";
import { sha256 } from "../hash.js";

/** Domain of the seed of an epoch's leader schedule. */
export const LEADER_SCHEDULE_DOMAIN = "simd23/leader-schedule/v1";

/** Who leads each window of one epoch. */
export interface LeaderSchedule {
  readonly epoch: number;
  readonly firstSlot: number;
  readonly slotsPerWindow: number;
  /** The leader of window w covers slots firstSlot + w·slotsPerWindow … + slotsPerWindow − 1. */
  readonly windowLeaders: readonly Uint8Array[];
}

/**
 * The validators the schedule samples from, in sampling order: those with a
 * leader replica, by stake descending, then identity ascending. A fixed order
 * makes the stake intervals, and so every draw, the same on every node.
 */
export function leaderCandidates(genesis: Genesis): readonly GenesisValidator[] {
  return genesis.validators
    .filter((v) => v.runsLeader)
    .sort((a, b) =>
      a.stake === b.stake ? compareBytes(a.identity, b.identity) : a.stake > b.stake ? -1 : 1,
    );
}

/** seed = sha256("simd23/leader-schedule/v1" ‖ genesisHash ‖ u64le(epoch)). */
export function leaderScheduleSeed(hashOfGenesis: Uint8Array, epoch: number): Uint8Array {
  return sha256(utf8(LEADER_SCHEDULE_DOMAIN), hashOfGenesis, u64le(epoch));
}

const TWO_128 = 1n << 128n;

/**
 * The random stream of one window of an epoch: block i = sha256(seed ‖
 * u64le(window) ‖ u64le(i)), i = 0, 1, …, read as consecutive 16-byte
 * little-endian integers (two per block). Each window draws from its own
 * stream, so any slot's leader is computed on its own, in O(1), without the
 * rest of the epoch.
 */
export class LeaderScheduleStream {
  private counter = 0;
  private block: Uint8Array = new Uint8Array(0);
  private offset = 0;
  private readonly prefix: Uint8Array;

  constructor(seed: Uint8Array, window: number) {
    this.prefix = concatBytes(seed, u64le(window));
  }

  /** The next uniform integer in [0, 2^128). */
  nextU128(): bigint {
    if (this.offset >= this.block.length) {
      this.block = sha256(this.prefix, u64le(this.counter++));
      this.offset = 0;
    }
    const view = new DataView(this.block.buffer, this.block.byteOffset + this.offset, 16);
    this.offset += 16;
    return (view.getBigUint64(8, true) << 64n) | view.getBigUint64(0, true);
  }

  /**
   * A uniform integer in [0, bound): draws below the largest multiple of bound
   * that fits in 2^128 are reduced mod bound, the others are rejected and
   * redrawn, so no value is favoured.
   */
  nextBelow(bound: bigint): bigint {
    if (bound <= 0n || bound > TWO_128) throw new RangeError(`bound must be in (0, 2^128], got ${bound}`);
    const limit = TWO_128 - (TWO_128 % bound);
    for (;;) {
      const r = this.nextU128();
      if (r < limit) return r % bound;
    }
  }
}

/** Index of the interval of [0, total) that holds r, given the inclusive cumulative ends. */
function intervalOf(cumulative: readonly bigint[], r: bigint): number {
  let low = 0;
  let high = cumulative.length - 1;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (r < cumulative[mid]!) high = mid;
    else low = mid + 1;
  }
  return low;
}

/** The candidates and their cumulative stake: what every draw of every window needs. */
interface Sampler {
  readonly candidates: readonly GenesisValidator[];
  readonly cumulative: readonly bigint[];
  readonly total: bigint;
}

function samplerOf(genesis: Genesis): Sampler {
  const candidates = leaderCandidates(genesis);
  const cumulative: bigint[] = [];
  let total = 0n;
  for (const candidate of candidates) {
    total += candidate.stake;
    cumulative.push(total);
  }
  return { candidates, cumulative, total };
}

function windowLeader(sampler: Sampler, seed: Uint8Array, window: number): Uint8Array {
  const draw = new LeaderScheduleStream(seed, window).nextBelow(sampler.total);
  return sampler.candidates[intervalOf(sampler.cumulative, draw)]!.identity;
}

/**
 * The leader schedule of an epoch: for each window of `slotsPerLeaderWindow`
 * slots, one stake-weighted draw over {@link leaderCandidates} from the
 * window's stream, seeded by {@link leaderScheduleSeed}. A pure function of
 * (genesis, epoch).
 */
export function computeLeaderSchedule(
  genesis: Genesis,
  epoch: number,
  hashOfGenesis: Uint8Array = genesisHash(genesis),
): LeaderSchedule {
  if (!Number.isSafeInteger(epoch) || epoch < 0) throw new RangeError(`not an epoch: ${epoch}`);
  const { slotsPerEpoch, slotsPerLeaderWindow } = genesis.timing;
  const sampler = samplerOf(genesis);
  const seed = leaderScheduleSeed(hashOfGenesis, epoch);
  const windows = slotsPerEpoch / slotsPerLeaderWindow;
  const windowLeaders: Uint8Array[] = new Array(windows);
  for (let w = 0; w < windows; w++) windowLeaders[w] = windowLeader(sampler, seed, w);
  return { epoch, firstSlot: epoch * slotsPerEpoch, slotsPerWindow: slotsPerLeaderWindow, windowLeaders };
}

/** The leader of a slot of the schedule's epoch. Slot 0 is genesis and has none. */
export function leaderInSchedule(schedule: LeaderSchedule, slot: number): Uint8Array {
  if (slot === 0) throw new RangeError("slot 0 is genesis: no leader produces it");
  const inEpoch = Number.isSafeInteger(slot) && slot >= schedule.firstSlot;
  const leader = inEpoch
    ? schedule.windowLeaders[Math.floor((slot - schedule.firstSlot) / schedule.slotsPerWindow)]
    : undefined;
  if (leader === undefined) throw new RangeError(`slot ${slot} is not in epoch ${schedule.epoch}`);
  return leader;
}

/**
 * The scheduled leader of any slot, computed per window on first use (one
 * sha256 and one draw) and kept for the most recently asked windows; whole
 * epochs are computed only when asked for with {@link scheduleOf}.
 */
export class LeaderScheduleCache {
  private readonly sampler: Sampler;
  private readonly seeds = new Map<number, Uint8Array>();
  private readonly windows = new Map<number, Uint8Array>();

  constructor(
    readonly genesis: Genesis,
    private readonly hashOfGenesis: Uint8Array = genesisHash(genesis),
    private readonly capacity = 4_096,
  ) {
    this.sampler = samplerOf(genesis);
  }

  /** The whole schedule of an epoch (computed each time: O(windows)). */
  scheduleOf(epoch: number): LeaderSchedule {
    return computeLeaderSchedule(this.genesis, epoch, this.hashOfGenesis);
  }

  /** The scheduled leader of a slot ≥ 1. */
  leaderOf(slot: number): Uint8Array {
    if (!Number.isSafeInteger(slot) || slot < 1)
      throw new RangeError(`slot ${slot} has no leader (slot 0 is genesis)`);
    const { slotsPerEpoch, slotsPerLeaderWindow } = this.genesis.timing;
    const globalWindow = Math.floor(slot / slotsPerLeaderWindow);
    let leader = this.windows.get(globalWindow);
    if (leader === undefined) {
      const epoch = Math.floor(slot / slotsPerEpoch);
      let seed = this.seeds.get(epoch);
      if (seed === undefined) {
        seed = leaderScheduleSeed(this.hashOfGenesis, epoch);
        if (this.seeds.size >= 4) this.seeds.delete(this.seeds.keys().next().value!);
        this.seeds.set(epoch, seed);
      }
      const window = Math.floor((slot - epoch * slotsPerEpoch) / slotsPerLeaderWindow);
      leader = windowLeader(this.sampler, seed, window);
      if (this.windows.size >= this.capacity) this.windows.delete(this.windows.keys().next().value!);
      this.windows.set(globalWindow, leader);
    }
    return leader;
  }
}
