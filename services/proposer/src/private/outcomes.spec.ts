import type { RecordedUserBlockSlot, SlotWithVotes, Vote } from "@simd23/core";
import { describe, expect, it } from "vitest";
import { pendingItem } from "../testing/items.js";
import { type ChainSlot, type ProposedBlock, ProposedBlocks, recordingSlotOf } from "./outcomes.js";

const me = new Uint8Array(32).fill(1);
const other = new Uint8Array(32).fill(2);
// Four validators of 1,000 each: 3,000 (three of them) reach 2/3, 2,000 do not.
const TOTAL_STAKE = 4_000n;
const BACKSTOP = 150;

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

/** Votes a slot records: [validator index, voted slot]. */
function votes(...cast: [number, number][]): SlotWithVotes["votes"] {
  return [
    {
      votes: cast.map(([validatorIndex, slot]) => ({
        vote: { slot } as Vote,
        validatorIndex,
        stake: 1_000n,
      })),
    },
  ];
}

/** A slot of a chain recording the given entries ([u, proposer, hash byte]) and votes. */
function slot(
  number: number,
  entries: [number, Uint8Array, number][] = [],
  recordedVotes: SlotWithVotes["votes"] = [],
): ChainSlot {
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
  return { slot: number, userBlockSlots, votes: recordedVotes as ChainSlot["votes"] };
}

describe("ProposedBlocks", () => {
  it("maps a UserBlockSlot to the slot that records it", () => {
    expect([9, 10, 11, 12].map(recordingSlotOf)).toEqual([5, 5, 6, 6]);
  });

  it("settles a block as recorded once its slot is optimistically confirmed on the tip's chain", () => {
    const blocks = new ProposedBlocks(TOTAL_STAKE, BACKSTOP);
    const mine = block(10, 7);
    blocks.add(mine);
    const five = slot(5, [[10, me, 7]]);
    expect(blocks.settle([five])).toEqual([]);
    // 2,000 of 4,000 voted for slot 5: not 2/3, and later slots of one leader change nothing.
    const six = slot(6, [], votes([0, 5], [1, 5]));
    expect(blocks.settle([slot(8), slot(7), six, five])).toEqual([]);
    // A third validator votes for slot 7, which descends from 5: 3,000 of 4,000.
    expect(blocks.settle([slot(9, [], votes([2, 7])), slot(8), slot(7), six, five])).toEqual([
      { block: mine, recorded: true, slot: 5 },
    ]);
    expect(blocks.size).toBe(0);
  });

  it("does not count votes for a fork the tip's chain left, nor one validator twice", () => {
    const blocks = new ProposedBlocks(TOTAL_STAKE, BACKSTOP);
    blocks.add(block(10, 7));
    const five = slot(5, [[10, me, 7]]);
    // Slot 7 is built on 5; the votes for slot 6 were for a fork the chain does not hold.
    const seven = slot(7, [], votes([0, 5], [0, 6], [1, 6], [2, 6]));
    expect(blocks.settle([slot(8, [], votes([0, 7])), seven, five])).toEqual([]);
    expect(blocks.size).toBe(1);
  });

  it("settles as recorded without votes only past the backstop (a cluster whose votes stopped)", () => {
    const blocks = new ProposedBlocks(TOTAL_STAKE, 3);
    const mine = block(10, 7);
    blocks.add(mine);
    const five = slot(5, [[10, me, 7]]);
    expect(blocks.settle([slot(7), slot(6), five])).toEqual([]);
    expect(blocks.settle([slot(8), slot(7), slot(6), five])).toEqual([
      { block: mine, recorded: true, slot: 5 },
    ]);
  });

  it("settles as not recorded at once: another block of its proposer, only others' blocks, a skipped or abandoned slot", () => {
    const blocks = new ProposedBlocks(TOTAL_STAKE, BACKSTOP);
    const replaced = block(9, 7);
    const missing = block(10, 8);
    const skipped = block(12, 9);
    for (const b of [replaced, missing, skipped]) blocks.add(b);
    // Slot 5 records u = 9 and 10: a different hash from this proposer, and another proposer's block.
    // Slot 6 (u = 11, 12) is not on the tip's chain: slot 7 was built on 5.
    expect(
      blocks.settle([
        slot(7),
        slot(5, [
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

  it("gives a recorded block back when its fork is abandoned before it was confirmed", () => {
    const blocks = new ProposedBlocks(TOTAL_STAKE, BACKSTOP);
    const mine = block(12, 7);
    blocks.add(mine);
    const five = slot(5);
    const six = slot(6, [[12, me, 7]], votes([0, 5]));
    expect(blocks.settle([slot(7, [], votes([0, 6], [1, 6])), six, five])).toEqual([]);
    // The cluster went on from slot 5 instead: slot 8 is built on it.
    expect(blocks.settle([slot(8, [], votes([2, 5], [3, 5])), five])).toEqual([
      { block: mine, recorded: false, reason: "skipped" },
    ]);
  });

  it("waits while the slot that records the block is the tip or still to come", () => {
    const blocks = new ProposedBlocks(TOTAL_STAKE, BACKSTOP);
    blocks.add(block(14, 1));
    expect(blocks.settle([slot(6)])).toEqual([]);
    expect(blocks.size).toBe(1);
  });

  it("forgets the blocks of a proposer identity it no longer holds", () => {
    const blocks = new ProposedBlocks(TOTAL_STAKE, 0);
    const mine = block(10, 1);
    const adopted = block(10, 2, other);
    blocks.add(mine);
    blocks.add(adopted);
    expect(blocks.forgetProposer(other)).toEqual([adopted]);
    expect(blocks.settle([slot(5, [[10, me, 1]])])).toEqual([{ block: mine, recorded: true, slot: 5 }]);
  });
});
