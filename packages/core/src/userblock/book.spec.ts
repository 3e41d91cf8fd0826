import { describe, expect, it } from "vitest";
import { toHex } from "../bytes.js";
import { fixtureGenesis, JOIN, proposerKey, transferItem } from "../ledger/fixture.js";
import { ProposerSchedule } from "../schedule/proposer.js";
import { recordingTickHeight } from "../time.js";
import { type OfferResult, RecordingBook, verifyEquivocationEvidence } from "./book.js";
import { UserBlockBuilder } from "./builder.js";

// Fixture timing: 8 ticks per slot, 4 per UserBlockSlot, 1 grace tick, delay 2.
// recordingTickHeight(u) = 4(u + 1) + 1: u = 7 at 33, u = 8 at 37 (both in slot 4).
const genesis = fixtureGenesis();

/** The proposer schedule after slot 3 of a chain where the given pool proposers joined in slot 1. */
function scheduleWith(...proposers: number[]): ProposerSchedule {
  let schedule = ProposerSchedule.genesis(genesis);
  for (const i of proposers) {
    const decision = schedule.withRequest(1, {
      proposer: proposerKey(i).publicKey,
      action: JOIN,
      requestedAtSlot: 1,
    });
    if (!decision.ok) throw new Error(decision.detail);
    schedule = decision.schedule;
  }
  for (let slot = 1; slot <= 3; slot++) schedule = schedule.closeSlot(slot, []).schedule;
  return schedule;
}

const schedule = scheduleWith(0, 1);

function block(proposer: number, userBlockSlot: number, nonce = 0) {
  const builder = new UserBlockBuilder({
    genesis,
    keypair: proposerKey(proposer),
    userBlockSlot,
    activeProposerCount: 2,
  });
  const added = builder.addEntry(1 + nonce, [transferItem(genesis, proposer, nonce)]);
  if (!added.ok) throw new Error(added.detail);
  return builder.finish();
}

const status = (result: OfferResult) => (result.status === "refused" ? result.reason : result.status);

describe("recording book", () => {
  it("holds blocks of the UserBlockSlot in progress or just ended, and yields them in arrival order", () => {
    expect(recordingTickHeight(genesis.timing, 7)).toBe(33);
    const book = new RecordingBook(genesis);
    const b1 = block(1, 7);
    const b0 = block(0, 7);
    expect(status(book.offer(b1.bytes, 30, schedule))).toBe("accepted");
    expect(status(book.offer(b0.bytes, 32, schedule))).toBe("accepted");
    expect(book.heldBlocks).toBe(2);
    // Not yet due at tick height 32.
    expect(book.take(4, 32, schedule).recordable).toEqual([]);
    const taken = book.take(4, 33, schedule);
    expect(taken.recordable.map((r) => r.userBlockSlot)).toEqual([7]);
    expect(taken.recordable[0]!.blocks.map((b) => b.blockHash)).toEqual([b1.blockHash, b0.blockHash]);
    expect(taken.dropped).toEqual([]);
    // Forgotten once taken.
    expect(book.heldBlocks).toBe(0);
    expect(book.take(4, 34, schedule).recordable).toEqual([]);
  });

  it("refuses a block for a UserBlockSlot that has not started as EARLY", () => {
    const book = new RecordingBook(genesis);
    const result = book.offer(block(0, 8).bytes, 31, schedule);
    expect(result).toMatchObject({ status: "refused", reason: "EARLY" });
    expect(status(book.offer(block(0, 8).bytes, 32, schedule))).toBe("accepted");
  });

  it("refuses a block as LATE once the PoH reached its recording tick height", () => {
    const book = new RecordingBook(genesis);
    expect(book.offer(block(0, 7).bytes, 33, schedule)).toMatchObject({ status: "refused", reason: "LATE" });
    book.take(4, 33, schedule);
    expect(status(book.offer(block(1, 7).bytes, 32, schedule))).toBe("LATE");
  });

  it("takes the same block twice as one: idempotent before and after recording", () => {
    const book = new RecordingBook(genesis);
    const b = block(0, 7);
    expect(status(book.offer(b.bytes, 29, schedule))).toBe("accepted");
    expect(book.offer(b.bytes, 30, schedule)).toEqual({
      status: "duplicate",
      blockHash: b.blockHash,
      recorded: false,
    });
    expect(book.take(4, 33, schedule).recordable[0]!.blocks).toHaveLength(1);
    expect(book.offer(b.bytes, 34, schedule)).toEqual({
      status: "duplicate",
      blockHash: b.blockHash,
      recorded: true,
    });
  });

  it("records neither of two different blocks from one proposer for one UserBlockSlot, and returns evidence", () => {
    const book = new RecordingBook(genesis);
    const first = block(0, 7, 0);
    const second = block(0, 7, 1);
    expect(status(book.offer(first.bytes, 29, schedule))).toBe("accepted");
    const refused = book.offer(second.bytes, 30, schedule);
    expect(status(refused)).toBe("EQUIVOCATION");
    if (refused.status !== "refused" || refused.evidence === undefined) throw new Error("expected evidence");
    expect(refused.evidence.first).toEqual({ header: first.header, signature: first.block.signature });
    expect(refused.evidence.second).toEqual({ header: second.header, signature: second.block.signature });
    expect(verifyEquivocationEvidence(refused.evidence)).toBe(true);
    // Any further block of that proposer for that UserBlockSlot is refused with the same evidence.
    expect(book.offer(first.bytes, 31, schedule)).toMatchObject({
      reason: "EQUIVOCATION",
      evidence: refused.evidence,
    });
    const other = block(1, 7);
    book.offer(other.bytes, 31, schedule);
    const taken = book.take(4, 33, schedule);
    expect(taken.recordable[0]!.blocks.map((b) => toHex(b.proposer))).toEqual([
      toHex(proposerKey(1).publicKey),
    ]);
  });

  it("keeps a recorded entry when a conflicting block arrives later, refusing it with evidence", () => {
    const book = new RecordingBook(genesis);
    const recorded = block(0, 7, 0);
    book.offer(recorded.bytes, 30, schedule);
    book.take(4, 33, schedule);
    const late = book.offer(block(0, 7, 2).bytes, 36, schedule);
    expect(status(late)).toBe("EQUIVOCATION");
    if (late.status !== "refused" || late.evidence === undefined) throw new Error("expected evidence");
    expect(late.evidence.first.header).toEqual(recorded.header);
    expect(verifyEquivocationEvidence(late.evidence)).toBe(true);
    // Past the retention window the book no longer knows the recorded header.
    const forgetful = new RecordingBook(genesis, { evidenceRetentionUserBlockSlots: 0 });
    forgetful.offer(recorded.bytes, 30, schedule);
    forgetful.take(4, 33, schedule);
    forgetful.take(4, 37, schedule);
    expect(status(forgetful.offer(block(0, 7, 2).bytes, 38, schedule))).toBe("LATE");
  });

  it("passes the well-formedness refusals through", () => {
    const book = new RecordingBook(genesis);
    expect(status(book.offer(Uint8Array.of(1, 2, 3), 30, schedule))).toBe("MALFORMED");
    expect(status(book.offer(block(2, 7).bytes, 30, schedule))).toBe("UNSCHEDULED");
    const forged = block(0, 7);
    const bytes = forged.bytes.slice();
    bytes[bytes.length - 1]! ^= 1;
    expect(status(book.offer(bytes, 30, schedule))).toBe("BAD_SIGNATURE");
    expect(book.heldBlocks).toBe(0);
  });

  it("drops held blocks of UserBlockSlots the recording slot does not record, as LATE", () => {
    const book = new RecordingBook(genesis);
    const b = block(0, 7);
    book.offer(b.bytes, 30, schedule);
    // Slot 5 records u = 9 and 10: u = 7 belonged to slot 4, which this node did not lead.
    const taken = book.take(5, 41, schedule);
    expect(taken.recordable).toEqual([{ userBlockSlot: 9, blocks: [] }]);
    expect(taken.dropped).toEqual([{ block: b, reason: "LATE", detail: expect.any(String) }]);
  });

  it("re-checks held blocks against the chain the recording slot extends", () => {
    const book = new RecordingBook(genesis);
    book.offer(block(0, 7).bytes, 30, schedule);
    book.offer(block(1, 7).bytes, 30, schedule);
    const taken = book.take(4, 33, scheduleWith(0));
    expect(taken.recordable[0]!.blocks.map((b) => toHex(b.proposer))).toEqual([
      toHex(proposerKey(0).publicKey),
    ]);
    expect(taken.dropped.map((d) => d.reason)).toEqual(["UNSCHEDULED"]);
  });

  it("accepts only real evidence", () => {
    const a = block(0, 7, 0);
    const b = block(0, 7, 1);
    const signed = (x: typeof a) => ({ header: x.header, signature: x.block.signature });
    const evidence = { proposer: a.proposer, userBlockSlot: 7, first: signed(a), second: signed(b) };
    expect(verifyEquivocationEvidence(evidence)).toBe(true);
    expect(verifyEquivocationEvidence({ ...evidence, second: signed(a) })).toBe(false);
    expect(verifyEquivocationEvidence({ ...evidence, userBlockSlot: 8 })).toBe(false);
    expect(
      verifyEquivocationEvidence({ ...evidence, second: { ...signed(b), signature: a.block.signature } }),
    ).toBe(false);
    const c = block(1, 7);
    expect(verifyEquivocationEvidence({ ...evidence, second: signed(c) })).toBe(false);
  });
});
