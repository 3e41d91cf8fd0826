import {
  buildVote,
  createTestnetGenesis,
  deriveKeypair,
  KEY_ROLES,
  sha256,
  signVote,
  toHex,
  utf8,
  type VerifiedVote,
  verifySignedVote,
} from "@simd23/core";
import { describe, expect, it } from "vitest";
import { VoteBox } from "./vote-box.js";

const seed = new Uint8Array(32).fill(4);
const genesis = createTestnetGenesis({
  clusterName: "votes",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 3,
  proposerPool: 1,
});

function vote(validator: number, slot: number): VerifiedVote {
  const keypair = deriveKeypair(seed, KEY_ROLES.validator, validator);
  const signed = signVote(
    keypair,
    buildVote({
      validator: keypair.publicKey,
      slot,
      slotHash: sha256(utf8(`slot ${slot}`)),
      tower: { lockouts: [{ slot, confirmationCount: 1 }], root: null },
      bankHash: null,
      timestampMs: 0,
    }),
  );
  const verified = verifySignedVote(genesis, signed);
  if (!verified.ok) throw verified.error;
  return verified.vote;
}

const slots = (votes: readonly VerifiedVote[]) => votes.map((v) => [v.validatorIndex, v.vote.slot]);

const id = (validator: number) => toHex(deriveKeypair(seed, KEY_ROLES.validator, validator).publicKey);

describe("VoteBox", () => {
  it("keeps each validator's newest vote and gives them in validator order", () => {
    const box = new VoteBox();
    expect(box.offer(vote(2, 5))).toBe("queued");
    expect(box.offer(vote(0, 4))).toBe("queued");
    expect(box.offer(vote(0, 6))).toBe("replaced");
    expect(box.offer(vote(0, 5))).toBe("not-newer");
    expect(box.offer(vote(0, 6))).toBe("not-newer");
    expect(box.size).toBe(2);
    expect(slots(box.dueFor(10, new Map()))).toEqual([
      [0, 6],
      [2, 5],
    ]);
  });

  it("gives a vote to slots after the voted one only", () => {
    const box = new VoteBox();
    box.offer(vote(1, 7));
    box.offer(vote(2, 3));
    expect(slots(box.dueFor(7, new Map()))).toEqual([[2, 3]]);
    expect(slots(box.dueFor(8, new Map()))).toEqual([
      [1, 7],
      [2, 3],
    ]);
  });

  it("records a vote once per chain: not when the chain holds it or a newer one, again on another fork", () => {
    const box = new VoteBox();
    box.offer(vote(1, 7));
    box.offer(vote(2, 5));
    const chain = new Map([
      [id(1), 7],
      [id(2), 4],
    ]);
    expect(slots(box.dueFor(9, chain))).toEqual([[2, 5]]);
    expect(slots(box.dueFor(9, new Map([[id(1), 8]])))).toEqual([[2, 5]]);
    // A fork whose chain holds neither vote records both.
    expect(slots(box.dueFor(9, new Map()))).toEqual([
      [1, 7],
      [2, 5],
    ]);
  });

  it("forgets votes too old to record", () => {
    const box = new VoteBox();
    box.offer(vote(1, 7));
    box.offer(vote(2, 3));
    box.forgetBefore(5);
    expect(slots(box.dueFor(100, new Map()))).toEqual([[1, 7]]);
  });
});
