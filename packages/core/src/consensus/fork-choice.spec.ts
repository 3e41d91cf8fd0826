import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createTestnetGenesis, KEY_ROLES } from "../genesis.js";
import { deriveKeypair } from "../keys.js";
import { decideVote, HeaviestSubtreeForkChoice } from "./fork-choice.js";
import { StakeTable } from "./stake.js";
import { EMPTY_TOWER, recordTowerVote, type Tower } from "./tower.js";

const clusterSeed = new Uint8Array(32).fill(11);
const genesis = createTestnetGenesis({
  clusterName: "fork-choice",
  clusterSeed,
  startTimeMs: 0n,
  validators: 4,
  stake: [40n, 30n, 20n, 10n],
  proposerPool: 1,
});
const stakes = new StakeTable(genesis);
const [a, b, c, d] = [0, 1, 2, 3].map(
  (i) => deriveKeypair(clusterSeed, KEY_ROLES.validator, i).publicKey,
) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];

// 0 → 1 → 2 → 3, and 1 → 4: slots 2 and 3 were skipped by the fork at 4 (its parent is older than 3).
function skippedSlotFork(): HeaviestSubtreeForkChoice {
  const choice = new HeaviestSubtreeForkChoice(stakes, 0);
  for (const [slot, parent] of [
    [1, 0],
    [2, 1],
    [3, 2],
    [4, 1],
  ] as const)
    expect(choice.addSlot(slot, parent).ok).toBe(true);
  return choice;
}

function towerOn(slots: readonly number[], choice: HeaviestSubtreeForkChoice): Tower {
  let tower = EMPTY_TOWER;
  for (const slot of slots) {
    const result = recordTowerVote(tower, slot, choice.tree.ancestors(slot), 32);
    if (!result.ok) throw result.error;
    tower = result.tower;
  }
  return tower;
}

describe("HeaviestSubtreeForkChoice", () => {
  it("adds each latest vote's stake to the slot and its ancestors, and descends into the heavier fork", () => {
    const choice = skippedSlotFork();
    choice.recordVote(a, 3);
    choice.recordVote(b, 4);
    choice.recordVote(c, 4);
    expect([0, 1, 2, 3, 4].map((s) => choice.subtreeStake(s))).toEqual([90n, 90n, 40n, 40n, 50n]);
    // The fork that skipped slots 2 and 3 carries 50 against 40: it wins.
    expect(choice.bestSlot()).toBe(4);
    // a moves to the other fork: 3 now holds nothing.
    expect(choice.recordVote(a, 5)).toEqual({ ok: true, counted: true });
    expect(choice.subtreeStake(3)).toBe(0n);
    expect(choice.subtreeStake(1)).toBe(50n);
  });

  it("breaks a tie by the lower slot", () => {
    const choice = skippedSlotFork();
    choice.recordVote(b, 3);
    choice.recordVote(c, 4);
    choice.recordVote(d, 4);
    expect(choice.subtreeStake(2)).toBe(choice.subtreeStake(4));
    expect(choice.bestSlot()).toBe(3);
  });

  it("ignores a fork it cannot vote on (missing UserBlocks, dead) until repaired", () => {
    const choice = skippedSlotFork();
    choice.recordVote(a, 3);
    choice.recordVote(b, 4);
    choice.recordVote(c, 4);
    const missingBlocks = new Set([4]);
    expect(choice.bestSlot((s) => missingBlocks.has(s))).toBe(3);
    // Ignoring 2 cuts off 3 below it: only 1 is left as a candidate.
    expect(choice.bestSlot((s) => s === 2 || s === 4)).toBe(1);
    missingBlocks.delete(4);
    expect(choice.bestSlot((s) => missingBlocks.has(s))).toBe(4);
  });

  it("counts only a validator's newest vote and refuses a non-validator", () => {
    const choice = skippedSlotFork();
    expect(choice.recordVote(a, 3)).toEqual({ ok: true, counted: true });
    expect(choice.recordVote(a, 2)).toEqual({ ok: true, counted: false });
    expect(choice.recordVote(a, 3)).toEqual({ ok: true, counted: false });
    expect(choice.latestVote(a)).toBe(3);
    const outsider = deriveKeypair(new Uint8Array(32), KEY_ROLES.validator, 0).publicKey;
    const refused = choice.recordVote(outsider, 4);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.error.code).toBe("unknown-validator");
    expect(choice.subtreeStake(0)).toBe(40n);
  });

  it("weighs a vote on a slot it has not seen yet once that slot arrives", () => {
    const choice = skippedSlotFork();
    choice.recordVote(a, 6);
    choice.recordVote(b, 3);
    expect(choice.bestSlot()).toBe(3);
    choice.addSlot(6, 4);
    expect(choice.subtreeStake(4)).toBe(40n);
    expect(choice.bestSlot()).toBe(6);
  });

  it("prunes the forks off a new root and keeps the stakes of what remains", () => {
    const choice = skippedSlotFork();
    choice.recordVote(a, 3);
    choice.recordVote(b, 4);
    expect(choice.setRoot(2)).toEqual({ ok: true, pruned: [0, 1, 4] });
    expect(choice.tree.slots()).toEqual([2, 3]);
    expect(choice.subtreeStake(2)).toBe(40n);
    expect(choice.subtreeStake(4)).toBe(0n);
    expect(choice.bestSlot()).toBe(3);
    // b's newer vote replaces its vote on the pruned slot.
    choice.addSlot(5, 3);
    choice.recordVote(b, 5);
    expect(choice.subtreeStake(2)).toBe(70n);
  });
});

describe("decideVote", () => {
  it("votes on the best tip when the tower allows and waits while a lockout on another fork holds", () => {
    const choice = skippedSlotFork();
    const tower = towerOn([1, 2, 3], choice);
    choice.recordVote(a, 3);
    expect(decideVote(choice, tower)).toMatchObject({ vote: false, reason: "nothing-new", bestSlot: 3 });
    choice.recordVote(b, 4);
    choice.recordVote(c, 4);
    const locked = decideVote(choice, tower);
    expect(locked).toMatchObject({ vote: false, reason: "locked-out", bestSlot: 4 });
    // Slot 7 on the heavier fork, past the lockouts of 2 and 3: the switch is allowed.
    choice.addSlot(7, 4);
    choice.recordVote(b, 7);
    expect(decideVote(choice, tower)).toEqual({ vote: true, slot: 7 });
  });

  it("does not vote on the root and votes on a new slot of its own fork", () => {
    const choice = new HeaviestSubtreeForkChoice(stakes, 0);
    expect(decideVote(choice, EMPTY_TOWER)).toMatchObject({
      vote: false,
      reason: "nothing-new",
      bestSlot: 0,
    });
    choice.addSlot(1, 0);
    expect(decideVote(choice, EMPTY_TOWER)).toEqual({ vote: true, slot: 1 });
    expect(decideVote(choice, EMPTY_TOWER, (s) => s === 1)).toMatchObject({
      vote: false,
      reason: "nothing-new",
    });
  });
});

describe("fork choice properties", () => {
  const tree = fc.array(fc.nat(), { minLength: 1, maxLength: 25 });
  const votes = fc.array(fc.record({ validator: fc.nat({ max: 3 }), pick: fc.nat() }), { maxLength: 30 });

  it("depends only on each validator's newest vote, not on the order votes arrive", () => {
    fc.assert(
      fc.property(tree, votes, fc.nat(), (parentPicks, voteList, seed) => {
        const slots = [0, ...parentPicks.map((_, i) => i + 1)];
        const parentOf = (slot: number) => parentPicks[slot - 1]! % slot;
        const build = (order: readonly { validator: number; pick: number }[]) => {
          const choice = new HeaviestSubtreeForkChoice(stakes, 0);
          for (const slot of slots.slice(1)) choice.addSlot(slot, parentOf(slot));
          for (const v of order) choice.recordVote([a, b, c, d][v.validator]!, v.pick % slots.length);
          return choice;
        };
        const shuffled = [...voteList]
          .map((v, i) => ({ v, key: (i * 7919 + seed) % 10007 }))
          .sort((x, y) => x.key - y.key)
          .map((x) => x.v);
        const first = build(voteList);
        const second = build(shuffled);
        expect(second.bestSlot()).toBe(first.bestSlot());
        // Against the definition: stake of validators whose highest vote is the slot or below it.
        const newest = new Map<number, number>();
        for (const v of voteList)
          newest.set(v.validator, Math.max(newest.get(v.validator) ?? -1, v.pick % slots.length));
        for (const slot of slots) {
          let expected = 0n;
          for (const [validator, voted] of newest) {
            if (first.tree.isAncestorOrSelf(slot, voted)) expected += [40n, 30n, 20n, 10n][validator]!;
          }
          expect(first.subtreeStake(slot)).toBe(expected);
          expect(second.subtreeStake(slot)).toBe(expected);
        }
      }),
    );
  });
});
