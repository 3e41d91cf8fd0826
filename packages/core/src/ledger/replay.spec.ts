import { ledger } from "@simd23/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compareBytes } from "../bytes.js";
import { ExecutionMode } from "../genesis.js";
import { sha256 } from "../hash.js";
import type { SlotBuilder } from "./builder.js";
import type { ChainState } from "./context.js";
import { createLedgerContext, genesisChainState, type LedgerContext } from "./context.js";
import {
  buildSlot,
  type ForgedEntry,
  fixtureGenesis,
  forgeSlot,
  JOIN,
  joinOrLeave,
  leaderKey,
  membershipRequest,
  proposerKey,
  recorded,
  signedVote,
  TICK,
  ticks,
  transferItem,
  validatorKey,
} from "./fixture.js";
import { decodeLedgerMessage, groupSlotMessages, replaySlot, type SlotMessages } from "./replay.js";

// Fixture timing: 8 ticks of 16 hashes per slot; recordingTickHeight(u) = 4(u + 1) + 1; delay 2.
const context = createLedgerContext(fixtureGenesis());
const genesisState = genesisChainState(context);
const [p0, p1, p2] = [0, 1, 2].map((i) => proposerKey(i).publicKey) as [Uint8Array, Uint8Array, Uint8Array];

/** A chain whose slot 1 recorded joins of p0 and p1 (active from slot 3, u = 6); its state after slot 2. */
const joined = (() => {
  const slot1 = buildSlot(
    context,
    genesisState,
    1,
    new Map([[8, [joinOrLeave(proposerKey(0), JOIN, 1), joinOrLeave(proposerKey(1), JOIN, 1)]]]),
  );
  return buildSlot(context, slot1.record.next, 2).record.next;
})();

const votes = (numHashes = 1): ForgedEntry => ({
  numHashes,
  payload: { $case: "votes", value: { votes: [signedVote(0, 0)] } },
});
const userBlock = (proposer: Uint8Array, userBlockSlot: number, numHashes = 1): ForgedEntry => ({
  numHashes,
  payload: { $case: "userBlock", value: { blockHash: sha256(proposer), proposer, userBlockSlot } },
});
const membership = (request: Uint8Array, signature: Uint8Array): ForgedEntry => ({
  numHashes: 1,
  payload: { $case: "membership", value: { request, signature } },
});
const tickAfter = (used: number): ForgedEntry => ({ numHashes: 16 - used, payload: TICK });

function violation(messages: SlotMessages, parent: ChainState = genesisState, ctx: LedgerContext = context) {
  const replayed = replaySlot(ctx, parent, messages);
  if (replayed.ok) throw new Error("expected the slot to be refused");
  return [replayed.violation.code, replayed.violation.entryIndex];
}

const base = () => forgeSlot(context, genesisState, 1, ticks(context, 8));
const withEntry = (
  m: SlotMessages,
  i: number,
  change: (e: ledger.SlotEntry) => ledger.SlotEntry,
): SlotMessages => ({
  ...m,
  entries: m.entries.map((e, j) => (j === i ? change(e) : e)),
});

describe("slot replayer", () => {
  it("accepts a slot of ticks alone", () => {
    const replayed = replaySlot(context, genesisState, base());
    expect(replayed.ok && replayed.record.entryCount).toBe(8);
  });

  it("WRONG_PARENT: a start that does not name the given parent", () => {
    const m = base();
    expect(violation({ ...m, start: { ...m.start, parentSlot: 1 } })).toEqual(["WRONG_PARENT", null]);
    expect(violation({ ...m, start: { ...m.start, parentHash: sha256(m.start.parentHash) } })).toEqual([
      "WRONG_PARENT",
      null,
    ]);
    expect(violation({ ...m, start: { ...m.start, slot: 0 } })).toEqual(["WRONG_PARENT", null]);
    expect(violation(m, joined)).toEqual(["WRONG_PARENT", null]);
  });

  it("WRONG_LEADER and MALFORMED: a start by anyone but the slot's scheduled leader", () => {
    const m = base();
    const other = [0, 1, 2, 3]
      .map(validatorKey)
      .find((k) => compareBytes(k.publicKey, leaderKey(context, 1).publicKey) !== 0)!;
    expect(violation({ ...m, start: { ...m.start, leader: other.publicKey } })).toEqual([
      "WRONG_LEADER",
      null,
    ]);
    expect(violation({ ...m, start: { ...m.start, leader: new Uint8Array(31) } })).toEqual([
      "MALFORMED",
      null,
    ]);
  });

  it("MALFORMED and NON_CONTIGUOUS: entries of another slot, out of order, or incomplete", () => {
    const m = base();
    expect(violation(withEntry(m, 3, (e) => ({ ...e, slot: 2 })))).toEqual(["MALFORMED", 3]);
    expect(violation(withEntry(m, 3, (e) => ({ ...e, index: 4 })))).toEqual(["NON_CONTIGUOUS", 3]);
    expect(violation({ ...m, entries: [m.entries[1]!, m.entries[0]!, ...m.entries.slice(2)] })).toEqual([
      "NON_CONTIGUOUS",
      0,
    ]);
    expect(violation(withEntry(m, 2, (e) => ({ ...e, entry: undefined })))).toEqual(["MALFORMED", 2]);
    expect(violation(withEntry(m, 2, (e) => ({ ...e, entry: { ...e.entry!, payload: undefined } })))).toEqual(
      ["MALFORMED", 2],
    );
    expect(
      violation(withEntry(m, 2, (e) => ({ ...e, entry: { ...e.entry!, hash: new Uint8Array(31) } }))),
    ).toEqual(["MALFORMED", 2]);
    const empty = forgeSlot(context, genesisState, 1, [
      { numHashes: 1, payload: { $case: "votes", value: { votes: [] } } },
    ]);
    expect(violation(empty)).toEqual(["MALFORMED", 0]);
  });

  it("BAD_POH: a hash that does not follow, or a payload that is not the one hashed; the first violation wins", () => {
    const m = base();
    expect(
      violation(withEntry(m, 3, (e) => ({ ...e, entry: { ...e.entry!, hash: sha256(e.entry!.hash) } }))),
    ).toEqual(["BAD_POH", 3]);
    const voted = forgeSlot(context, genesisState, 1, [votes(), tickAfter(1), ...ticks(context, 7)]);
    const swapped = withEntry(voted, 0, (e) => ({
      ...e,
      entry: { ...e.entry!, payload: { $case: "votes", value: { votes: [signedVote(1, 0)] } } },
    }));
    expect(violation(swapped)).toEqual(["BAD_POH", 0]);
    // A PoH break at entry 1 is reported before a numbering break at entry 5.
    const both = withEntry(
      withEntry(m, 1, (e) => ({ ...e, entry: { ...e.entry!, hash: sha256(e.entry!.hash) } })),
      5,
      (e) => ({ ...e, index: 9 }),
    );
    expect(violation(both)).toEqual(["BAD_POH", 1]);
  });

  it("BAD_TICKS: ticks off the hash count, entries among skipped ticks or after the last, a short slot", () => {
    expect(violation(forgeSlot(context, genesisState, 1, [{ numHashes: 15, payload: TICK }]))).toEqual([
      "BAD_TICKS",
      0,
    ]);
    expect(violation(forgeSlot(context, genesisState, 1, [votes(16)]))).toEqual(["BAD_TICKS", 0]);
    expect(violation(forgeSlot(context, genesisState, 1, [votes(10), votes(6)]))).toEqual(["BAD_TICKS", 1]);
    expect(violation(forgeSlot(context, genesisState, 2, [...ticks(context, 7), votes()]))).toEqual([
      "BAD_TICKS",
      7,
    ]);
    expect(violation(forgeSlot(context, genesisState, 1, [...ticks(context, 8), votes()]))).toEqual([
      "BAD_TICKS",
      8,
    ]);
    expect(violation(forgeSlot(context, genesisState, 1, ticks(context, 7)))).toEqual(["BAD_TICKS", null]);
    expect(violation(forgeSlot(context, genesisState, 2, ticks(context, 8)))).toEqual(["BAD_TICKS", null]);
    expect(
      replaySlot(context, genesisState, forgeSlot(context, genesisState, 2, ticks(context, 16))).ok,
    ).toBe(true);
  });

  it("USER_BLOCK_*: entries for the wrong UserBlockSlot, too early, twice, or from an unscheduled proposer", () => {
    const slot3 = (entries: ForgedEntry[]) => violation(forgeSlot(context, joined, 3, entries), joined);
    // Slot 3 starts at tick height 24 and records u = 5 (from 25) and u = 6 (from 29).
    expect(slot3([...ticks(context, 5), userBlock(p0, 7)])).toEqual(["USER_BLOCK_WRONG_SLOT", 5]);
    expect(slot3([...ticks(context, 5), userBlock(p0, 4)])).toEqual(["USER_BLOCK_WRONG_SLOT", 5]);
    expect(slot3([...ticks(context, 4), userBlock(p0, 6)])).toEqual(["USER_BLOCK_TOO_EARLY", 4]);
    expect(slot3([userBlock(p0, 5)])).toEqual(["USER_BLOCK_TOO_EARLY", 0]);
    expect(slot3([...ticks(context, 5), userBlock(p0, 6), userBlock(p0, 6)])).toEqual([
      "USER_BLOCK_DUPLICATE",
      6,
    ]);
    expect(slot3([...ticks(context, 5), userBlock(p2, 6)])).toEqual(["USER_BLOCK_UNSCHEDULED", 5]);
    // p0 and p1 join in slot 3: not scheduled at u = 5 (slot 2).
    expect(slot3([...ticks(context, 1), userBlock(p0, 5)])).toEqual(["USER_BLOCK_UNSCHEDULED", 1]);
    const good = forgeSlot(context, joined, 3, [
      ...ticks(context, 5),
      userBlock(p0, 6),
      userBlock(p1, 6),
      tickAfter(2),
      ...ticks(context, 2),
    ]);
    expect(replaySlot(context, joined, good).ok).toBe(true);
  });

  it("BAD_VOTE: a vote that does not verify, or is not for an earlier slot", () => {
    const entry = (v: ReturnType<typeof signedVote>): ForgedEntry => ({
      numHashes: 1,
      payload: { $case: "votes", value: { votes: [signedVote(1, 0), v] } },
    });
    const forged = { ...signedVote(0, 0), signature: signedVote(1, 0).signature };
    expect(violation(forgeSlot(context, genesisState, 1, [entry(forged)]))).toEqual(["BAD_VOTE", 0]);
    expect(
      violation(
        forgeSlot(context, genesisState, 1, [
          entry({ vote: Uint8Array.of(0xff), signature: forged.signature }),
        ]),
      ),
    ).toEqual(["BAD_VOTE", 0]);
    expect(violation(forgeSlot(context, genesisState, 1, [entry(signedVote(0, 1))]))).toEqual([
      "BAD_VOTE",
      0,
    ]);
    expect(
      replaySlot(
        context,
        genesisState,
        forgeSlot(context, genesisState, 2, [
          ...ticks(context, 8),
          entry(signedVote(0, 1)),
          tickAfter(1),
          ...ticks(context, 7),
        ]),
      ).ok,
    ).toBe(true);
  });

  it("BAD_MEMBERSHIP: an unsigned, undecodable, stale or no-op request", () => {
    const reason = (entry: ForgedEntry, slot = 3) => {
      const replayed = replaySlot(
        context,
        joined,
        forgeSlot(context, joined, slot, [...ticks(context, 8 * (slot - 3)), entry]),
      );
      if (replayed.ok) throw new Error("expected a violation");
      return [replayed.violation.code, replayed.violation.membershipReason];
    };
    const own = membershipRequest(proposerKey(2), JOIN, 3);
    const other = membershipRequest(proposerKey(3), JOIN, 3);
    expect(reason(membership(own.request, other.signature))).toEqual(["BAD_MEMBERSHIP", "BAD_SIGNATURE"]);
    expect(reason(membership(Uint8Array.of(0xff), own.signature))).toEqual(["BAD_MEMBERSHIP", "MALFORMED"]);
    const again = membershipRequest(proposerKey(0), JOIN, 3);
    expect(reason(membership(again.request, again.signature))).toEqual(["BAD_MEMBERSHIP", "NOT_A_CHANGE"]);
    const old = membershipRequest(proposerKey(2), JOIN, 2);
    expect(reason(membership(old.request, old.signature), 8)).toEqual(["BAD_MEMBERSHIP", "STALE"]);
    expect(
      replaySlot(context, joined, forgeSlot(context, joined, 3, [membership(own.request, own.signature)])).ok,
    ).toBe(false);
  });

  it("WRONG_MODE and OVER_LIMIT: the execution mode decides which entries a slot may hold", () => {
    const items = [transferItem(context.genesis, 0, 1)];
    const transactions: ForgedEntry = { numHashes: 1, payload: { $case: "transactions", value: { items } } };
    expect(violation(forgeSlot(context, genesisState, 1, [transactions]))).toEqual(["WRONG_MODE", 0]);
    const sync = createLedgerContext(
      fixtureGenesis({
        mode: ExecutionMode.EXECUTION_MODE_SYNC,
        limits: { maxSlotComputeUnits: 1_500_000n },
      }),
    );
    const syncGenesis = genesisChainState(sync);
    const heavy = (from: number): ForgedEntry => ({
      numHashes: 1,
      payload: { $case: "transactions", value: { items: [transferItem(sync.genesis, from, 1, 1_000_000)] } },
    });
    expect(violation(forgeSlot(sync, syncGenesis, 1, [heavy(0), heavy(1)]), syncGenesis, sync)).toEqual([
      "OVER_LIMIT",
      1,
    ]);
    expect(violation(forgeSlot(sync, syncGenesis, 1, [userBlock(p0, 1)]), syncGenesis, sync)).toEqual([
      "WRONG_MODE",
      0,
    ]);
  });

  it("BAD_END: an end that does not match the slot", () => {
    const m = base();
    expect(violation({ ...m, end: { ...m.end, entryCount: 9 } })).toEqual(["BAD_END", null]);
    expect(violation({ ...m, end: { ...m.end, lastHash: m.entries[6]!.entry!.hash } })).toEqual([
      "BAD_END",
      null,
    ]);
    expect(violation({ ...m, end: { ...m.end, slot: 2 } })).toEqual(["BAD_END", null]);
    expect(violation({ ...m, end: { ...m.end, parentSlot: 1 } })).toEqual(["BAD_END", null]);
    expect(violation({ ...m, end: { ...m.end, bankHash: new Uint8Array(32) } })).toEqual(["BAD_END", null]);
  });

  it("refuses any single-byte change to a slot's messages", () => {
    const slot3 = buildSlot(
      context,
      joined,
      3,
      new Map<number, ((b: SlotBuilder) => ledger.SlotEntry)[]>([
        [24, [(b) => recorded(b.recordVotes([signedVote(0, 2), signedVote(1, 2)]))]],
        [26, [joinOrLeave(proposerKey(2), JOIN, 3)]],
        [29, [(b) => b.recordUserBlock({ blockHash: sha256(p0), proposer: p0, userBlockSlot: 6 })]],
      ]),
    );
    expect(replaySlot(context, joined, slot3.messages).ok).toBe(true);
    const { start, entries, end } = slot3.messages;
    const messages: ledger.LedgerMessage[] = [
      { kind: { $case: "start", value: start } },
      ...entries.map((value) => ({ kind: { $case: "entry" as const, value } })),
      { kind: { $case: "end", value: end } },
    ];
    const encoded = messages.map((m) => ledger.LedgerMessage.encode(m).finish());
    const changeable = fc
      .nat({ max: encoded.length - 1 })
      .chain((i) =>
        fc.tuple(fc.constant(i), fc.nat({ max: encoded[i]!.length - 1 }), fc.integer({ min: 1, max: 255 })),
      );
    fc.assert(
      fc.property(changeable, ([i, at, delta]) => {
        const bytes = encoded[i]!.slice();
        bytes[at] = bytes[at]! ^ delta;
        const decoded = decodeLedgerMessage(bytes);
        if (!decoded.ok) return;
        const grouped = groupSlotMessages(messages.map((m, j) => (j === i ? decoded.message : m)));
        if (!grouped.ok) return;
        expect(replaySlot(context, joined, grouped.slot).ok).toBe(false);
      }),
      { numRuns: 2_000 },
    );
  });
});
