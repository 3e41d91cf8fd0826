import type { RecordedUserBlockSlot } from "@simd23/core";
import { describe, expect, it } from "vitest";
import { pendingItem } from "../testing/items.js";
import { type ChainSlot, type ProposedBlock, ProposedBlocks, recordingSlotOf } from "./outcomes.js";

const me = new Uint8Array(32).fill(1);
const other = new Uint8Array(32).fill(2);
const leaderA = new Uint8Array(32).fill(10);
const leaderB = new Uint8Array(32).fill(11);

function block(userBlockSlot: number, hashByte: number, proposer = me): ProposedBlock {
  return {
    userBlockSlot,
    proposer,
    blockHash: new Uint8Array(32).fill(hashByte),
    items: [pendingItem()],
    proposerName: "proposer-0",
    published: true,
  };
}

/** A slot of a chain, led by `leader`, recording the given entries: [u, proposer, hash byte]. */
function slot(number: number, leader: Uint8Array, entries: [number, Uint8Array, number][] = []): ChainSlot {
  const userBlockSlots = [2 * number - 1, 2 * number].map(
    (u): RecordedUserBlockSlot => ({
      userBlockSlot: u,
      activeProposers: [me, other],
      entries: entries
        .filter(([entryU]) => entryU === u)
        .map(([entryU, proposer, hashByte], entryIndex) => ({
          entryIndex,
          blockHash: new Uint8Array(32).fill(hashByte),
          proposer,
          userBlockSlot: entryU,
        })),
    }),
  ) as [RecordedUserBlockSlot, RecordedUserBlockSlot];
  return { slot: number, leader, userBlockSlots };
}

describe("ProposedBlocks", () => {
  it("maps a UserBlockSlot to the slot that records it", () => {
    expect([9, 10, 11, 12].map(recordingSlotOf)).toEqual([5, 5, 6, 6]);
  });

  it("settles a block as recorded once another leader built on its slot", () => {
    const blocks = new ProposedBlocks(8);
    const mine = block(10, 7);
    blocks.add(mine);
    const five = slot(5, leaderA, [[10, me, 7]]);
    expect(blocks.settle([five])).toEqual([]);
    // The same leader's next slot is not enough: the next leader could abandon both.
    expect(blocks.settle([slot(6, leaderA), five])).toEqual([]);
    expect(blocks.settle([slot(7, leaderB), slot(6, leaderA), five])).toEqual([
      { block: mine, recorded: true, slot: 5 },
    ]);
    expect(blocks.size).toBe(0);
  });

  it("settles as recorded by depth alone where one leader produces every slot", () => {
    const blocks = new ProposedBlocks(2);
    const mine = block(10, 7);
    blocks.add(mine);
    const five = slot(5, leaderA, [[10, me, 7]]);
    expect(blocks.settle([slot(6, leaderA), five])).toEqual([]);
    expect(blocks.settle([slot(7, leaderA), slot(6, leaderA), five])).toEqual([
      { block: mine, recorded: true, slot: 5 },
    ]);
  });

  it("settles as not recorded at once: another block of its proposer, only others' blocks, a skipped or abandoned slot", () => {
    const blocks = new ProposedBlocks(8);
    const replaced = block(9, 7);
    const missing = block(10, 8);
    const skipped = block(12, 9);
    for (const b of [replaced, missing, skipped]) blocks.add(b);
    // Slot 5 records u = 9 and 10: a different hash from this proposer, and another proposer's block.
    // Slot 6 (u = 11, 12) is not on the tip's chain: slot 7 was built on 5.
    expect(
      blocks.settle([
        slot(7, leaderA),
        slot(5, leaderA, [
          [9, me, 99],
          [10, other, 8],
        ]),
      ]),
    ).toEqual([
      { block: replaced, recorded: false, reason: "not_recorded" },
      { block: missing, recorded: false, reason: "not_recorded" },
      { block: skipped, recorded: false, reason: "skipped" },
    ]);
  });

  it("waits while the slot that records the block is the tip or still to come", () => {
    const blocks = new ProposedBlocks(8);
    blocks.add(block(14, 1));
    expect(blocks.settle([slot(6, leaderA)])).toEqual([]);
    expect(blocks.size).toBe(1);
  });

  it("forgets the blocks of a proposer identity it no longer holds", () => {
    const blocks = new ProposedBlocks(0);
    const mine = block(10, 1);
    const adopted = block(10, 2, other);
    blocks.add(mine);
    blocks.add(adopted);
    expect(blocks.forgetProposer(other)).toEqual([adopted]);
    expect(blocks.settle([slot(5, leaderA, [[10, me, 1]])])).toEqual([
      { block: mine, recorded: true, slot: 5 },
    ]);
  });
});
