import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { toHex } from "../bytes.js";
import { genesisFromJson, genesisHash, genesisToJson } from "../genesis.js";
import { fixtureGenesis } from "../ledger/fixture.js";
import {
  computeLeaderSchedule,
  LeaderScheduleCache,
  LeaderScheduleStream,
  leaderCandidates,
  leaderInSchedule,
  leaderScheduleSeed,
} from "./leader.js";

const genesis = fixtureGenesis();
const hashOfGenesis = genesisHash(genesis);

function independentSha256(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const part of parts) h.update(part);
  return h.digest();
}

/** The spec, re-implemented from its text: seed, per-window counter-mode blocks, u128 LE draws, rejection, intervals. */
function referenceLeaders(windows: number, epoch: number): string[] {
  const seed = independentSha256(
    Buffer.from("simd23/leader-schedule/v1"),
    hashOfGenesis,
    Buffer.from(new BigUint64Array([BigInt(epoch)]).buffer),
  );
  const candidates = genesis.validators
    .filter((v) => v.runsLeader)
    .sort((a, b) => Number(b.stake - a.stake) || Buffer.compare(a.identity, b.identity));
  const total = candidates.reduce((sum, v) => sum + v.stake, 0n);
  const limit = 2n ** 128n - (2n ** 128n % total);
  const u64 = (n: number) => Buffer.from(new BigUint64Array([BigInt(n)]).buffer);
  const leaders: string[] = [];
  for (let window = 0; window < windows; window++) {
    let drawn: bigint | undefined;
    for (let block = 0; drawn === undefined; block++) {
      const bytes = independentSha256(seed, u64(window), u64(block));
      for (const offset of [0, 16]) {
        const r = (bytes.readBigUInt64LE(offset + 8) << 64n) + bytes.readBigUInt64LE(offset);
        if (drawn === undefined && r < limit) drawn = r;
      }
    }
    let point = drawn % total;
    const chosen = candidates.find((v) => {
      if (point < v.stake) return true;
      point -= v.stake;
      return false;
    })!;
    leaders.push(toHex(chosen.identity));
  }
  return leaders;
}

describe("leader schedule", () => {
  it("samples over leader validators by stake descending, then identity ascending", () => {
    const mixed = fixtureGenesis({ stake: [5n, 9n, 5n, 7n], leaders: 3 });
    const order = leaderCandidates(mixed).map((v) => v.stake);
    expect(order).toEqual([9n, 5n, 5n]);
    const tied = leaderCandidates(mixed).filter((v) => v.stake === 5n);
    expect(Buffer.compare(tied[0]!.identity, tied[1]!.identity)).toBeLessThan(0);
    expect(leaderCandidates(mixed).some((v) => v.name === "validator-3")).toBe(false);
  });

  it("seeds from sha256(domain ‖ genesis hash ‖ u64le(epoch))", () => {
    const expected = independentSha256(
      Buffer.from("simd23/leader-schedule/v1"),
      hashOfGenesis,
      Buffer.from([7, 0, 0, 0, 0, 0, 0, 0]),
    );
    expect(toHex(leaderScheduleSeed(hashOfGenesis, 7))).toBe(expected.toString("hex"));
    expect(toHex(leaderScheduleSeed(new Uint8Array(32), 0))).toBe(
      "9d047fa897838c7ca2c13732e1ac135fff425bd062f39fe359d26d87070012b9",
    );
  });

  it("reads each window's stream as little-endian u128s, two per sha256(seed ‖ u64le(window) ‖ u64le(i)) block", () => {
    const seed = new Uint8Array(32).fill(3);
    const stream = new LeaderScheduleStream(seed, 5);
    const window = Buffer.from(new BigUint64Array([5n]).buffer);
    for (let block = 0; block < 3; block++) {
      const bytes = independentSha256(seed, window, Buffer.from(new BigUint64Array([BigInt(block)]).buffer));
      for (const offset of [0, 16]) {
        const expected = (bytes.readBigUInt64LE(offset + 8) << 64n) + bytes.readBigUInt64LE(offset);
        expect(stream.nextU128()).toBe(expected);
      }
    }
  });

  it("rejects draws at or above the largest multiple of the bound instead of favouring low values", () => {
    const seed = new Uint8Array(32).fill(9);
    const bound = 2n ** 127n + 1n;
    const raw = new LeaderScheduleStream(seed, 0);
    const sampled = new LeaderScheduleStream(seed, 0);
    let rejected = 0;
    for (let i = 0; i < 16; i++) {
      let r = raw.nextU128();
      while (r >= bound) {
        rejected++;
        r = raw.nextU128();
      }
      expect(sampled.nextBelow(bound)).toBe(r);
    }
    // Half the draws fall above 2^127 + 1: the rejection path really ran.
    expect(rejected).toBeGreaterThan(0);
    expect(() => sampled.nextBelow(0n)).toThrow(RangeError);
  });

  it("matches an independent implementation of the sampling, and a pinned vector", () => {
    for (const epoch of [0, 1, 5]) {
      const schedule = computeLeaderSchedule(genesis, epoch);
      expect(schedule.windowLeaders.map(toHex)).toEqual(
        referenceLeaders(schedule.windowLeaders.length, epoch),
      );
    }
    const names = (epoch: number) =>
      computeLeaderSchedule(genesis, epoch).windowLeaders.map((leader) =>
        genesis.validators.find((v) => toHex(v.identity) === toHex(leader))!.name.slice(-1),
      );
    expect(names(0).join("")).toBe("01001120");
    expect(names(1).join("")).toBe("20210001");
  });

  it("gives each window of slotsPerLeaderWindow slots one leader, and slot 0 (genesis) none", () => {
    const cache = new LeaderScheduleCache(genesis);
    const schedule = cache.scheduleOf(0);
    expect(schedule.windowLeaders).toHaveLength(32 / 4);
    for (let window = 0; window < 8; window++) {
      for (let offset = 0; offset < 4; offset++) {
        const slot = window * 4 + offset;
        if (slot === 0) continue;
        expect(cache.leaderOf(slot)).toBe(schedule.windowLeaders[window]);
      }
    }
    expect(() => cache.leaderOf(0)).toThrow(/genesis/);
    expect(() => leaderInSchedule(schedule, 0)).toThrow(/genesis/);
    expect(() => leaderInSchedule(schedule, 32)).toThrow(/not in epoch 0/);
  });

  it("switches to the next epoch's schedule at the epoch boundary", () => {
    const cache = new LeaderScheduleCache(genesis);
    const epoch1 = computeLeaderSchedule(genesis, 1);
    expect(epoch1.firstSlot).toBe(32);
    expect(toHex(cache.leaderOf(31))).toBe(toHex(computeLeaderSchedule(genesis, 0).windowLeaders[7]!));
    for (const slot of [32, 33, 34, 35])
      expect(toHex(cache.leaderOf(slot))).toBe(toHex(epoch1.windowLeaders[0]!));
    expect(toHex(cache.leaderOf(36))).toBe(toHex(epoch1.windowLeaders[1]!));
  });

  it("answers any slot's leader without computing its epoch, the same as the whole schedule", () => {
    const big = fixtureGenesis({ timing: { slotsPerEpoch: 432_000 } });
    const cache = new LeaderScheduleCache(big);
    const started = performance.now();
    const far = cache.leaderOf(1_000 * 432_000 + 17);
    expect(performance.now() - started).toBeLessThan(50);
    const schedule = computeLeaderSchedule(big, 1_000);
    expect(toHex(far)).toBe(toHex(leaderInSchedule(schedule, 1_000 * 432_000 + 17)));
    expect(toHex(cache.leaderOf(1_000 * 432_000 + 431_999))).toBe(toHex(schedule.windowLeaders.at(-1)!));
  });

  it("gives each leader a share of windows that follows its stake", () => {
    const big = fixtureGenesis({ stake: [1n, 2n, 3n, 4n], timing: { slotsPerEpoch: 40_000 } });
    const counts = new Map<string, number>();
    const schedule = computeLeaderSchedule(big, 3);
    for (const leader of schedule.windowLeaders)
      counts.set(toHex(leader), (counts.get(toHex(leader)) ?? 0) + 1);
    const windows = schedule.windowLeaders.length;
    let chiSquare = 0;
    for (const v of big.validators) {
      const expected = (windows * Number(v.stake)) / 10;
      const observed = counts.get(toHex(v.identity)) ?? 0;
      chiSquare += (observed - expected) ** 2 / expected;
    }
    // 3 degrees of freedom: 16.27 is the 0.1% critical value.
    expect(chiSquare).toBeLessThan(16.27);
  });

  it("only schedules validators that run a leader", () => {
    const two = fixtureGenesis({ leaders: 2 });
    const leaders = new Set(computeLeaderSchedule(two, 0).windowLeaders.map(toHex));
    expect(leaders).toEqual(new Set(two.validators.slice(0, 2).map((v) => toHex(v.identity))));
  });

  it("is a pure function of (genesis, epoch)", () => {
    fc.assert(
      fc.property(fc.nat({ max: 10_000 }), (epoch) => {
        const again = genesisFromJson(genesisToJson(genesis));
        expect(computeLeaderSchedule(again, epoch)).toEqual(computeLeaderSchedule(genesis, epoch));
      }),
      { numRuns: 25 },
    );
    const epochs = new Set(
      [0, 1, 2, 3, 4, 5].map((e) => computeLeaderSchedule(genesis, e).windowLeaders.map(toHex).join()),
    );
    expect(epochs.size).toBe(6);
    const otherCluster = fixtureGenesis({ clusterName: "another" });
    expect(computeLeaderSchedule(otherCluster, 0).windowLeaders).not.toEqual(
      computeLeaderSchedule(genesis, 0).windowLeaders,
    );
  });
});
