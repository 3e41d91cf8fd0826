import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EMPTY_TOWER,
  isExpiredAt,
  isLockedOut,
  lockoutExpiry,
  recordTowerVote,
  type Tower,
  towerShapeProblem,
  voteRefusal,
} from "./tower.js";

// A chain 0 → 1 → 2 → …: every smaller slot is an ancestor.
const chainAncestors = (slot: number): Set<number> => new Set(Array.from({ length: slot }, (_, i) => i));

function voteAll(slots: readonly number[], ancestorsOf: (slot: number) => Set<number>, max = 32): Tower {
  let tower = EMPTY_TOWER;
  for (const slot of slots) {
    const result = recordTowerVote(tower, slot, ancestorsOf(slot), max);
    if (!result.ok) throw result.error;
    tower = result.tower;
  }
  return tower;
}

const pairs = (tower: Tower) => tower.lockouts.map((l) => [l.slot, l.confirmationCount]);

describe("lockouts", () => {
  it("lock slot + 2^confirmationCount, expired only past that slot", () => {
    const lockout = { slot: 10, confirmationCount: 3 };
    expect(lockoutExpiry(lockout)).toBe(18);
    expect(isExpiredAt(lockout, 18)).toBe(false);
    expect(isExpiredAt(lockout, 19)).toBe(true);
    expect(lockoutExpiry({ slot: 2 ** 32 - 1, confirmationCount: 32 })).toBe(2 ** 33 - 1);
  });
});

describe("recordTowerVote", () => {
  it("doubles the lockouts below each new vote on one chain", () => {
    expect(pairs(voteAll([1], chainAncestors))).toEqual([[1, 1]]);
    expect(pairs(voteAll([1, 2], chainAncestors))).toEqual([
      [1, 2],
      [2, 1],
    ]);
    expect(pairs(voteAll([1, 2, 3, 4], chainAncestors))).toEqual([
      [1, 4],
      [2, 3],
      [3, 2],
      [4, 1],
    ]);
  });

  it("pops expired lockouts from the top and doubles only once the stack outgrows a lockout", () => {
    // (3,1) locks through 5 and is popped at 6; (2,2) locks through 6 and stays.
    const afterGap = voteAll([1, 2, 3, 6], chainAncestors);
    expect(pairs(afterGap)).toEqual([
      [1, 3],
      [2, 2],
      [6, 1],
    ]);
    // Depth 4 now exceeds i + count for every lockout: all gain a confirmation.
    expect(pairs(voteAll([1, 2, 3, 6, 7], chainAncestors))).toEqual([
      [1, 4],
      [2, 3],
      [6, 2],
      [7, 1],
    ]);
  });

  it("roots the bottom lockout when it reaches maxLockoutHistory confirmations", () => {
    const result = recordTowerVote(voteAll([1, 2, 3], chainAncestors, 4), 4, chainAncestors(4), 4);
    expect(result.ok && result.newRoot).toBe(1);
    if (!result.ok) throw result.error;
    expect(result.tower.root).toBe(1);
    expect(pairs(result.tower)).toEqual([
      [2, 3],
      [3, 2],
      [4, 1],
    ]);
    const next = voteAll([1, 2, 3, 4, 5], chainAncestors, 4);
    expect(next.root).toBe(2);
    expect(pairs(next)).toEqual([
      [3, 3],
      [4, 2],
      [5, 1],
    ]);
  });

  it("with the default depth 32 keeps 31 lockouts and roots on the 32nd consecutive vote, as Solana", () => {
    const slots = Array.from({ length: 32 }, (_, i) => i + 1);
    const before = voteAll(slots.slice(0, 31), chainAncestors);
    expect(before.root).toBeNull();
    expect(before.lockouts).toHaveLength(31);
    expect(before.lockouts[0]).toEqual({ slot: 1, confirmationCount: 31 });
    const after = voteAll(slots, chainAncestors);
    expect(after.root).toBe(1);
    expect(after.lockouts).toHaveLength(31);
    expect(after.lockouts[0]).toEqual({ slot: 2, confirmationCount: 31 });
  });

  it("switches forks only after the conflicting lockouts expired", () => {
    // 0 → 1 → 2 → 3 and a fork 1 → 4 / 1 → 5 / … (every fork slot's ancestors are {0, 1}).
    const mainFork = voteAll([1, 2, 3], chainAncestors);
    const forkAncestors = new Set([0, 1]);
    for (const slot of [4, 5]) {
      const refused = recordTowerVote(mainFork, slot, forkAncestors, 32);
      expect(refused.ok).toBe(false);
      if (!refused.ok) {
        expect(refused.error.code).toBe("locked-out");
        expect(refused.error.message).toMatch(/slot 2, locked out through 6/);
      }
    }
    // At 6 the vote on 3 expired, the vote on 2 (through 6) still holds.
    expect(voteRefusal(mainFork, 6, forkAncestors)?.message).toMatch(/slot 2, locked out through 6/);
    // At 7 only the vote on 1 remains, an ancestor of the fork.
    const switched = recordTowerVote(mainFork, 7, forkAncestors, 32);
    expect(switched.ok).toBe(true);
    if (switched.ok)
      expect(pairs(switched.tower)).toEqual([
        [1, 3],
        [7, 1],
      ]);
  });

  it("refuses a slot that is not newer than the last vote or the root, and a fork off the root", () => {
    const tower = voteAll([1, 2, 3], chainAncestors);
    expect(voteRefusal(tower, 3, chainAncestors(3))?.code).toBe("not-newer");
    expect(voteRefusal(tower, 2, chainAncestors(2))?.code).toBe("not-newer");
    const rooted: Tower = { lockouts: [{ slot: 40, confirmationCount: 1 }], root: 30 };
    expect(voteRefusal({ lockouts: [], root: 30 }, 30, chainAncestors(30))?.code).toBe("not-newer");
    expect(voteRefusal(rooted, 100, new Set([0, 10, 40]))?.code).toBe("locked-out");
    expect(isLockedOut(rooted, 100, new Set([0, 30, 40]))).toBe(false);
  });

  it("changes nothing when it refuses", () => {
    const tower = voteAll([1, 2, 3], chainAncestors);
    const copy = structuredClone(tower);
    recordTowerVote(tower, 4, new Set([0, 1]), 32);
    expect(tower).toEqual(copy);
  });
});

describe("towerShapeProblem", () => {
  it("accepts towers honest voting builds and names what is wrong with others", () => {
    const tower = voteAll([1, 2, 3, 6, 7], chainAncestors);
    expect(towerShapeProblem(tower, 7, 32)).toBeNull();
    expect(towerShapeProblem(tower, 6, 32)).toMatch(/top lockout/);
    expect(towerShapeProblem(EMPTY_TOWER, 1, 32)).toMatch(/empty/);
    expect(towerShapeProblem({ lockouts: [], root: 5 }, 5, 1)).toBeNull();
    const unordered = {
      lockouts: [
        { slot: 2, confirmationCount: 2 },
        { slot: 1, confirmationCount: 1 },
      ],
      root: null,
    };
    expect(towerShapeProblem(unordered, 1, 32)).toMatch(/not increasing/);
    const flat = {
      lockouts: [
        { slot: 1, confirmationCount: 1 },
        { slot: 2, confirmationCount: 1 },
      ],
      root: null,
    };
    expect(towerShapeProblem(flat, 2, 32)).toMatch(/not decreasing/);
    expect(towerShapeProblem({ lockouts: [{ slot: 5, confirmationCount: 1 }], root: 5 }, 5, 32)).toMatch(
      /root/,
    );
    const tooDeep = voteAll(
      Array.from({ length: 10 }, (_, i) => i + 1),
      chainAncestors,
    );
    expect(towerShapeProblem(tooDeep, 10, 8)).toMatch(/at most 7/);
  });

  it("holds for every tower built by any sequence of votes on a random tree", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 100 }), { minLength: 1, maxLength: 60 }),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 80 }),
        fc.integer({ min: 1, max: 32 }),
        (parentPicks, gaps, max) => {
          // Slot k's parent is one of the slots before it, picked by parentPicks.
          const parent = new Map<number, number>();
          const slots = [0];
          let slot = 0;
          for (const gap of gaps) {
            slot += gap;
            const pick = parentPicks[slots.length % parentPicks.length]!;
            parent.set(slot, slots[slots.length - 1 - (pick % Math.min(slots.length, 4))]!);
            slots.push(slot);
          }
          const ancestorsOf = (s: number) => {
            const out = new Set<number>();
            for (let p = parent.get(s); p !== undefined; p = parent.get(p)) out.add(p);
            return out;
          };
          let tower = EMPTY_TOWER;
          for (const s of slots.slice(1)) {
            const result = recordTowerVote(tower, s, ancestorsOf(s), max);
            if (!result.ok) {
              expect(["not-newer", "locked-out"]).toContain(result.error.code);
              continue;
            }
            tower = result.tower;
            expect(towerShapeProblem(tower, s, max)).toBeNull();
            for (const lockout of tower.lockouts)
              if (lockout.slot !== s) expect(ancestorsOf(s).has(lockout.slot)).toBe(true);
            if (tower.root !== null) expect(tower.root === s || ancestorsOf(s).has(tower.root)).toBe(true);
          }
        },
      ),
    );
  });
});
