import { type control, vote as pb } from "@simd23/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { utf8 } from "../bytes.js";
import { EnvelopeKind, sealEnvelope } from "../envelope/envelope.js";
import { createTestnetGenesis, type Genesis, KEY_ROLES } from "../genesis.js";
import { sha256 } from "../hash.js";
import { deriveKeypair, type Keypair } from "../keys.js";
import { BankHashTally, type TallyEvent, type TallyUpdate, VerdictLevel } from "./bank-hash-tally.js";
import { buildVote, signVote, verifySignedVote } from "./vote.js";

const clusterSeed = new Uint8Array(32).fill(41);
const keypairs = [0, 1, 2, 3].map((i) => deriveKeypair(clusterSeed, KEY_ROLES.validator, i));
const key = (i: number): Uint8Array => keypairs[i]!.publicKey;
const genesisWith = (stake: bigint[]): Genesis =>
  createTestnetGenesis({
    clusterName: "tally",
    clusterSeed,
    startTimeMs: 0n,
    validators: stake.length,
    stake,
    proposerPool: 1,
  });

const bankHash = (slot: number) => sha256(utf8(`bank ${slot}`));
const right = (slot: number, i: number) => sha256(bankHash(slot), key(i));
const wrong = (slot: number, i: number) => sha256(utf8(`wrong ${slot}`), key(i));
const evidence = (slot: number, i: number) => utf8(`report ${slot} from ${i}`);

function eventsOf(update: TallyUpdate): readonly TallyEvent[] {
  if (!update.ok) throw update.error;
  return update.events;
}

// References 0 → 1 → 2 → 3 and the fork 1 → 4.
function tallyOn(stake: bigint[]): BankHashTally {
  const tally = new BankHashTally(genesisWith(stake));
  for (const [slot, parentSlot] of [
    [0, 0],
    [1, 0],
    [2, 1],
    [3, 2],
    [4, 1],
  ] as const) {
    if (slot === 0) eventsOf(tally.addReference({ slot, parentSlot: 0, bankHash: bankHash(0) }, 0));
    else
      eventsOf(
        tally.addReference(
          { slot, parentSlot, bankHash: bankHash(slot), userBlockSlots: [2 * slot - 1, 2 * slot] },
          0,
        ),
      );
  }
  return tally;
}

const commit = (tally: BankHashTally, slot: number, i: number, commitment: Uint8Array, nowMs = 1000) =>
  eventsOf(
    tally.addCommitment({ validator: key(i), slot, commitment, signedMessage: evidence(slot, i) }, nowMs),
  );

const kinds = (events: readonly TallyEvent[]) =>
  events.map((e) =>
    e.kind === "verdict" ? `${VerdictLevel[e.verdict.level]}@${e.verdict.slot}` : `${e.kind}`,
  );

describe("BankHashTally: halting", () => {
  it("does not halt at exactly 1/3 mismatched and halts just above it", () => {
    const tally = tallyOn([1n, 1n, 1n]);
    const first = commit(tally, 2, 0, wrong(2, 0));
    expect(kinds(first)).toEqual(["mismatch-report"]);
    expect(tally.tally(2)).toEqual({ matched: 0n, mismatched: 1n, missing: 2n, total: 3n });
    const second = commit(tally, 2, 1, wrong(2, 1), 2000);
    expect(kinds(second)).toEqual(["halt"]);
    const halt = second[0]!.kind === "halt" ? second[0]!.halt : undefined;
    expect(halt).toMatchObject({
      slot: 2,
      haltedAtMs: 2000n,
      tally: { mismatched: 2n, missing: 1n, total: 3n },
    });
    expect(halt?.evidence.map((e) => e.validator)).toEqual([key(0), key(1)]);
    expect(halt?.evidence[1]).toEqual({
      validator: key(1),
      stake: 1n,
      commitment: wrong(2, 1),
      signedMessage: evidence(2, 1),
    });
    expect(halt?.reason).toMatch(/2 of 3 stake/);
    expect(tally.halt).toEqual(halt);
  });

  it("halts on one stake unit above 1/3 with large stakes", () => {
    const e = 10n ** 18n;
    const tally = tallyOn([e, e + 1n, e - 1n]);
    expect(kinds(commit(tally, 1, 2, wrong(1, 2)))).toEqual(["mismatch-report"]);
    const other = tallyOn([e, e + 1n, e - 1n]);
    expect(kinds(commit(other, 1, 1, wrong(1, 1)))).toEqual(["halt"]);
  });

  it("reports a 25% minority by identity and does not halt", () => {
    const tally = tallyOn([1n, 1n, 1n, 1n]);
    const events = commit(tally, 3, 2, wrong(3, 2));
    expect(events).toEqual([
      {
        kind: "mismatch-report",
        report: {
          slot: 3,
          evidence: [
            { validator: key(2), stake: 1n, commitment: wrong(3, 2), signedMessage: evidence(3, 2) },
          ],
          tally: { matched: 0n, mismatched: 1n, missing: 3n, total: 4n },
        },
      },
    ]);
    expect(tally.halt).toBeNull();
    expect(tally.statusOf(3, key(2))).toBe("mismatched");
  });

  it("halts at once on 50% mismatched", () => {
    const tally = tallyOn([2n, 1n, 1n]);
    const events = commit(tally, 3, 0, wrong(3, 0));
    expect(kinds(events)).toEqual(["halt"]);
    expect(tally.tally(3)).toEqual({ matched: 0n, mismatched: 2n, missing: 2n, total: 4n });
  });

  it("halts once, then gives no verdict for the halted slot or its descendants but does for others", () => {
    const tally = tallyOn([1n, 1n, 1n]);
    commit(tally, 2, 0, wrong(2, 0));
    expect(kinds(commit(tally, 2, 1, wrong(2, 1)))).toEqual(["halt"]);
    expect(kinds(commit(tally, 4, 0, wrong(4, 0)))).toEqual(["mismatch-report"]);
    expect(kinds(commit(tally, 4, 1, wrong(4, 1)))).toEqual(["mismatch-report"]);
    expect(tally.halt?.slot).toBe(2);
    // 3 descends from the halted 2: its matched stake moves, no verdict. 1 is below the halt: its
    // verdict still comes (0 and 2 matched it through 3).
    expect(commit(tally, 3, 2, right(3, 2))).toEqual([]);
    expect(kinds(commit(tally, 3, 0, right(3, 0)))).toEqual(["VERDICT_LEVEL_EXECUTED@1"]);
    expect(tally.tally(3)?.matched).toBe(2n);
  });

  it("gives no verdict to descendants of the halted slot after pruning past it", () => {
    const tally = tallyOn([1n, 1n, 1n]);
    commit(tally, 2, 0, wrong(2, 0));
    expect(kinds(commit(tally, 2, 1, wrong(2, 1)))).toEqual(["halt"]);
    eventsOf(tally.addReference({ slot: 5, parentSlot: 3, bankHash: bankHash(5) }, 0));
    tally.pruneBelow(3);
    expect(commit(tally, 3, 2, right(3, 2))).toEqual([]);
    expect(commit(tally, 5, 0, right(5, 0))).toEqual([]);
    expect(tally.tally(3)?.matched).toBe(2n);
    // A child referenced after the pruning descends from the halt too.
    eventsOf(tally.addReference({ slot: 6, parentSlot: 5, bankHash: bankHash(6) }, 0));
    expect(commit(tally, 6, 1, right(6, 1))).toEqual([]);
    expect(tally.tally(5)?.matched).toBe(2n);
  });
});

describe("BankHashTally: verdicts", () => {
  it("is EXECUTED above 1/3 matched (not at exactly 1/3), with the slot's results", () => {
    const tally = new BankHashTally(genesisWith([1n, 1n, 1n]));
    const result: control.TransactionResult = {
      signature: new Uint8Array(64).fill(1),
      status: 1,
      fee: 5000n,
      slot: 1,
      userBlockSlot: 1,
      proposer: new Uint8Array(32),
    };
    eventsOf(tally.addReference({ slot: 0, parentSlot: 0, bankHash: bankHash(0) }, 0));
    eventsOf(
      tally.addReference(
        { slot: 1, parentSlot: 0, bankHash: bankHash(1), results: [result], userBlockSlots: [1, 2] },
        0,
      ),
    );
    expect(commit(tally, 1, 0, right(1, 0))).toEqual([]);
    const events = commit(tally, 1, 1, right(1, 1));
    expect(events).toEqual([
      {
        kind: "verdict",
        verdict: {
          slot: 1,
          level: VerdictLevel.VERDICT_LEVEL_EXECUTED,
          tally: { matched: 2n, mismatched: 0n, missing: 1n, total: 3n },
          results: [result],
          userBlockSlots: [1, 2],
        },
      },
    ]);
  });

  it("is FINALIZED at 2/3 matched once the slot is rooted by 2/3 of stake on this chain", () => {
    const tally = tallyOn([1n, 1n, 1n]);
    commit(tally, 2, 0, right(2, 0));
    expect(kinds(commit(tally, 2, 1, right(2, 1)))).toEqual([
      "VERDICT_LEVEL_EXECUTED@1",
      "VERDICT_LEVEL_EXECUTED@2",
    ]);
    // Rooted at 3 by one validator, at 4 by another: 1 is below both roots, 2 is not below 4.
    expect(eventsOf(tally.addRoot(key(0), 40, 3, 0))).toEqual([]);
    expect(kinds(eventsOf(tally.addRoot(key(1), 40, 4, 0)))).toEqual(["VERDICT_LEVEL_FINALIZED@1"]);
    // A newer vote of validator 1 roots 2: 2 of 3 on this chain.
    const events = eventsOf(tally.addRoot(key(1), 41, 2, 0));
    expect(kinds(events)).toEqual(["VERDICT_LEVEL_FINALIZED@2"]);
    const finalized = events[0]!.kind === "verdict" ? events[0]!.verdict : undefined;
    expect(finalized?.results).toEqual([]);
    expect(finalized?.userBlockSlots).toEqual([3, 4]);
    // An older vote's root is ignored.
    expect(eventsOf(tally.addRoot(key(1), 39, 4, 0))).toEqual([]);
  });

  it("counts a matching commitment for a descendant as a match on its ancestors on that chain only", () => {
    const tally = tallyOn([1n, 1n, 1n]);
    commit(tally, 3, 0, right(3, 0));
    expect([1, 2, 3, 4].map((s) => tally.statusOf(s, key(0)))).toEqual([
      "matched",
      "matched",
      "matched",
      "missing",
    ]);
    commit(tally, 4, 1, wrong(4, 1));
    expect(tally.statusOf(1, key(1))).toBe("missing");
  });

  it("lets a direct mismatch outrank a match implied by a descendant", () => {
    const tally = tallyOn([1n, 1n, 1n]);
    commit(tally, 3, 0, right(3, 0));
    expect(tally.tally(2)?.matched).toBe(1n);
    expect(kinds(commit(tally, 2, 0, wrong(2, 0)))).toEqual(["mismatch-report"]);
    expect(tally.tally(2)).toEqual({ matched: 0n, mismatched: 1n, missing: 2n, total: 3n });
    // A later match for the same slot does not undo it.
    commit(tally, 2, 0, right(2, 0));
    expect(tally.statusOf(2, key(0))).toBe("mismatched");
  });

  it("holds commitments for slots it has not executed yet and judges them when it does", () => {
    const tally = tallyOn([1n, 1n, 1n]);
    expect(commit(tally, 5, 0, right(5, 0))).toEqual([]);
    expect(commit(tally, 5, 1, right(5, 1))).toEqual([]);
    eventsOf(tally.addRoot(key(0), 50, 5, 0));
    eventsOf(tally.addRoot(key(1), 50, 5, 0));
    const events = eventsOf(tally.addReference({ slot: 5, parentSlot: 3, bankHash: bankHash(5) }, 0));
    expect(kinds(events)).toEqual([
      "VERDICT_LEVEL_EXECUTED@1",
      "VERDICT_LEVEL_FINALIZED@1",
      "VERDICT_LEVEL_EXECUTED@2",
      "VERDICT_LEVEL_FINALIZED@2",
      "VERDICT_LEVEL_EXECUTED@3",
      "VERDICT_LEVEL_FINALIZED@3",
      "VERDICT_LEVEL_EXECUTED@5",
      "VERDICT_LEVEL_FINALIZED@5",
    ]);
  });

  it("takes a verified vote's commitment and root, keeping the signed vote as evidence", () => {
    const genesis = genesisWith([1n, 1n, 1n]);
    const tally = new BankHashTally(genesis);
    eventsOf(tally.addReference({ slot: 0, parentSlot: 0, bankHash: bankHash(0) }, 0));
    eventsOf(tally.addReference({ slot: 1, parentSlot: 0, bankHash: bankHash(1) }, 0));
    const voteOf = (signer: Keypair, commitment: Uint8Array) => {
      const signed = signVote(
        signer,
        buildVote({
          validator: signer.publicKey,
          slot: 40,
          slotHash: sha256(utf8("40")),
          tower: { lockouts: [{ slot: 40, confirmationCount: 1 }], root: 1 },
          bankHash: { slot: 1, commitment },
          timestampMs: 0,
        }),
      );
      const verified = verifySignedVote(genesis, signed);
      if (!verified.ok) throw verified.error;
      const envelope = sealEnvelope(signer, EnvelopeKind.KIND_VOTE, pb.SignedVote.encode(signed).finish());
      return { verified: verified.vote, envelope };
    };
    const bad = voteOf(keypairs[2]!, wrong(1, 2));
    const badEvents = eventsOf(tally.addVote(bad.verified, bad.envelope, 5));
    expect(
      badEvents[0]?.kind === "mismatch-report" && badEvents[0].report.evidence[0]?.signedMessage,
    ).toEqual(bad.envelope);
    const a = voteOf(keypairs[0]!, right(1, 0));
    expect(eventsOf(tally.addVote(a.verified, a.envelope, 5))).toEqual([]);
    const b = voteOf(keypairs[1]!, right(1, 1));
    expect(kinds(eventsOf(tally.addVote(b.verified, b.envelope, 5)))).toEqual([
      "VERDICT_LEVEL_EXECUTED@1",
      "VERDICT_LEVEL_FINALIZED@1",
    ]);
  });

  it("takes a BankHash report's commitment", () => {
    const tally = tallyOn([1n, 1n]);
    const report: pb.BankHashReport = {
      validator: key(1),
      slot: 2,
      parentSlot: 1,
      bankHashCommitment: right(2, 1),
      signatureCount: 0,
      transactionCount: 0,
      executionLagSlots: 3,
      executedAtMs: 9n,
    };
    expect(kinds(eventsOf(tally.addReport(report, utf8("envelope"), 0)))).toEqual([
      "VERDICT_LEVEL_EXECUTED@1",
      "VERDICT_LEVEL_EXECUTED@2",
    ]);
  });
});

describe("BankHashTally: refusals", () => {
  it("refuses bad input with a typed error and changes nothing", () => {
    const tally = tallyOn([1n, 1n, 1n]);
    const outsider = deriveKeypair(new Uint8Array(32), KEY_ROLES.validator, 0).publicKey;
    const code = (update: TallyUpdate) => (update.ok ? "ok" : update.error.code);
    expect(
      code(
        tally.addCommitment(
          { validator: outsider, slot: 1, commitment: right(1, 0), signedMessage: utf8("") },
          0,
        ),
      ),
    ).toBe("unknown-validator");
    expect(
      code(
        tally.addCommitment(
          { validator: key(0), slot: 1, commitment: new Uint8Array(31), signedMessage: utf8("") },
          0,
        ),
      ),
    ).toBe("malformed");
    expect(code(tally.addRoot(outsider, 9, 1, 0))).toBe("unknown-validator");
    expect(code(tally.addReference({ slot: 9, parentSlot: 8, bankHash: bankHash(9) }, 0))).toBe(
      "unknown-parent",
    );
    expect(code(tally.addReference({ slot: 3, parentSlot: 2, bankHash: bankHash(4) }, 0))).toBe(
      "conflicting-reference",
    );
    expect(code(tally.addReference({ slot: 3, parentSlot: 2, bankHash: bankHash(3) }, 0))).toBe("ok");
    expect(code(tally.addReference({ slot: 5, parentSlot: 5, bankHash: bankHash(5) }, 0))).toBe(
      "parent-not-older",
    );
    expect(code(tally.addReference({ slot: 5, parentSlot: 3, bankHash: new Uint8Array(8) }, 0))).toBe(
      "malformed",
    );
    expect([0, 1, 2, 3, 4].map((s) => tally.tally(s)?.missing)).toEqual([3n, 3n, 3n, 3n, 3n]);
    tally.pruneBelow(2);
    expect(tally.tally(1)).toBeUndefined();
    expect(code(tally.addReference({ slot: 1, parentSlot: 0, bankHash: bankHash(1) }, 0))).toBe(
      "pruned-slot",
    );
    expect(
      eventsOf(
        tally.addCommitment(
          { validator: key(0), slot: 1, commitment: wrong(1, 0), signedMessage: utf8("") },
          0,
        ),
      ),
    ).toEqual([]);
  });
});

describe("BankHashTally: properties", () => {
  const observation = fc.record({
    validator: fc.nat({ max: 3 }),
    slot: fc.integer({ min: 1, max: 6 }),
    matches: fc.boolean(),
  });

  it("tallies always add up to total stake, and the final tallies do not depend on arrival order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.bigInt({ min: 1n, max: 10n ** 12n }), { minLength: 4, maxLength: 4 }),
        fc.array(observation, { maxLength: 40 }),
        fc.array(fc.nat(), { minLength: 6, maxLength: 6 }),
        (stake, observations, parentPicks) => {
          const build = (order: typeof observations) => {
            const tally = new BankHashTally(genesisWith(stake));
            eventsOf(tally.addReference({ slot: 0, parentSlot: 0, bankHash: bankHash(0) }, 0));
            // Slots 1..6 on a random tree, references interleaved with the commitments.
            let next = 1;
            order.forEach((o, i) => {
              if (i % 5 === 0 && next <= 6) {
                eventsOf(
                  tally.addReference(
                    { slot: next, parentSlot: parentPicks[next - 1]! % next, bankHash: bankHash(next) },
                    0,
                  ),
                );
                next++;
              }
              const commitment = o.matches ? right(o.slot, o.validator) : wrong(o.slot, o.validator);
              eventsOf(
                tally.addCommitment(
                  { validator: key(o.validator), slot: o.slot, commitment, signedMessage: utf8("") },
                  i,
                ),
              );
            });
            for (; next <= 6; next++)
              eventsOf(
                tally.addReference(
                  { slot: next, parentSlot: parentPicks[next - 1]! % next, bankHash: bankHash(next) },
                  0,
                ),
              );
            return tally;
          };
          const total = stake.reduce((s, x) => s + x, 0n);
          const forward = build(observations);
          const backward = build([...observations].reverse());
          for (let slot = 0; slot <= 6; slot++) {
            const t = forward.tally(slot)!;
            expect(t.total).toBe(total);
            expect(t.matched + t.mismatched + t.missing).toBe(total);
            expect(t.matched >= 0n && t.mismatched >= 0n && t.missing >= 0n).toBe(true);
            expect(backward.tally(slot)).toEqual(t);
          }
        },
      ),
    );
  });
});
