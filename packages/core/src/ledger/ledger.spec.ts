import { createHash } from "node:crypto";
import { ledger } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { compareBytes, toHex } from "../bytes.js";
import { ExecutionMode } from "../genesis.js";
import { sha256 } from "../hash.js";
import { SlotBuilder } from "./builder.js";
import { createLedgerContext, genesisChainState } from "./context.js";
import {
  buildSlot,
  fixtureGenesis,
  JOIN,
  joinOrLeave,
  LEAVE,
  leaderKey,
  membershipRequest,
  proposerKey,
  recorded,
  signedVote,
  transferItem,
  validatorKey,
} from "./fixture.js";
import {
  membershipEntryMixin,
  membershipRequestSigningInput,
  userBlockEntryMixin,
  voteEntryMixin,
} from "./mixins.js";
import { SlotViolationError } from "./record.js";
import { decodeLedgerMessage, groupSlotMessages, replaySlot, replaySlotAsync } from "./replay.js";

// Fixture timing: 8 ticks of 16 hashes per slot, 4 ticks per UserBlockSlot, 1 grace tick,
// membership delay 2 slots. recordingTickHeight(u) = 4(u + 1) + 1.
const context = createLedgerContext(fixtureGenesis());
const genesisState = genesisChainState(context);
const p0 = proposerKey(0);
const p1 = proposerKey(1);
const blockHash = (name: string) => sha256(new TextEncoder().encode(name));
const ube = (proposer: Uint8Array, userBlockSlot: number) => (b: SlotBuilder) =>
  b.recordUserBlock({ blockHash: blockHash(`${toHex(proposer)}/${userBlockSlot}`), proposer, userBlockSlot });
const votes = (slot: number) => (b: SlotBuilder) =>
  recorded(b.recordVotes([signedVote(0, slot), signedVote(1, slot)]));

/** Slots 1, 2, 3 and 5 (4 skipped) of one chain, as the leaders built them. */
function chain() {
  const slot1 = buildSlot(
    context,
    genesisState,
    1,
    new Map([
      [8, [joinOrLeave(p0, JOIN, 1), joinOrLeave(p1, JOIN, 1)]],
      [10, [votes(0)]],
    ]),
  );
  const slot2 = buildSlot(context, slot1.record.next, 2);
  const slot3 = buildSlot(
    context,
    slot2.record.next,
    3,
    new Map([
      [26, [votes(2)]],
      [29, [ube(p0.publicKey, 6), ube(p1.publicKey, 6)]],
    ]),
  );
  const slot5 = buildSlot(
    context,
    slot3.record.next,
    5,
    new Map([
      [41, [ube(p1.publicKey, 9)]],
      [42, [votes(3)]],
      [45, [ube(p0.publicKey, 10), joinOrLeave(p1, LEAVE, 5)]],
    ]),
  );
  return { slot1, slot2, slot3, slot5 };
}

describe("ledger mixins", () => {
  const hex = (...parts: (Uint8Array | string)[]) => {
    const h = createHash("sha256");
    for (const part of parts) h.update(typeof part === "string" ? Buffer.from(part) : part);
    return h.digest("hex");
  };
  const le32 = (n: number) => Buffer.from(Uint32Array.of(n).buffer);

  it("commits a vote entry to each signed vote, length-prefixed", () => {
    const a = signedVote(0, 1);
    const b = signedVote(1, 1);
    const digest = (v: typeof a) =>
      createHash("sha256").update(le32(v.vote.length)).update(v.vote).update(v.signature).digest();
    expect(toHex(voteEntryMixin([a, b]))).toBe(
      hex("simd23/ledger/vote-entry/v1", le32(2), digest(a), digest(b)),
    );
  });

  it("commits a UserBlockEntry to the block hash, the proposer and the UserBlockSlot", () => {
    const entry = {
      blockHash: new Uint8Array(32).fill(1),
      proposer: new Uint8Array(32).fill(2),
      userBlockSlot: 300,
    };
    expect(toHex(userBlockEntryMixin(entry))).toBe(
      hex("simd23/ledger/userblock-entry/v1", entry.blockHash, entry.proposer, le32(300)),
    );
    expect(() => userBlockEntryMixin({ ...entry, blockHash: new Uint8Array(3) })).toThrow(RangeError);
  });

  it("commits a membership entry to the signed request, and the request is signed as its bus envelope", () => {
    const { request, signature } = membershipRequest(p0, JOIN, 7);
    expect(toHex(membershipEntryMixin({ request, signature }))).toBe(
      hex("simd23/ledger/membership-entry/v1", le32(request.length), request, signature),
    );
    expect(Buffer.from(membershipRequestSigningInput(request))).toEqual(
      Buffer.concat([Buffer.from("simd23/envelope/v1"), le32(6), request]),
    );
  });
});

describe("slot builder → slot replayer", () => {
  it("replays every slot the builder produced to the same record", () => {
    const { slot1, slot2, slot3, slot5 } = chain();
    let parent = genesisState;
    for (const slot of [slot1, slot2, slot3, slot5]) {
      const replayed = replaySlot(context, parent, slot.messages);
      expect(replayed).toEqual({ ok: true, record: slot.record });
      parent = slot.record.next;
    }
  });

  it("continues PoH and tick height across skipped slots", () => {
    const { slot3, slot5 } = chain();
    expect(slot5.messages.start).toEqual({
      slot: 5,
      parentSlot: 3,
      parentHash: slot3.record.lastHash,
      leader: leaderKey(context, 5).publicKey,
    });
    // Slot 4's 8 ticks open slot 5, then its own 8.
    const tickEntries = slot5.messages.entries.filter((e) => e.entry!.payload!.$case === "tick");
    expect(tickEntries).toHaveLength(16);
    expect(slot5.messages.entries.slice(0, 8).every((e) => e.entry!.payload!.$case === "tick")).toBe(true);
    expect(slot5.record.next).toMatchObject({
      slot: 5,
      tickHeight: 48,
      lastHash: slot5.messages.end.lastHash,
    });
    expect(slot5.messages.end).toMatchObject({ slot: 5, parentSlot: 3, entryCount: 20 });
  });

  it("records UserBlockEntries grouped by UserBlockSlot in ledger order, votes and membership changes", () => {
    const { slot1, slot3, slot5 } = chain();
    const both = [p0.publicKey, p1.publicKey].sort(compareBytes);
    expect(
      slot1.record.membershipChanges.map((c) => [c.entryIndex, c.change.action, c.change.effectiveSlot]),
    ).toEqual([
      [0, "join", 3],
      [1, "join", 3],
    ]);
    expect(
      slot3.record.userBlockSlots.map((u) => [u.userBlockSlot, u.activeProposers, u.entries.length]),
    ).toEqual([
      [5, [], 0],
      [6, both, 2],
    ]);
    expect(slot5.record.userBlockSlots).toEqual([
      {
        userBlockSlot: 9,
        activeProposers: both,
        entries: [
          {
            entryIndex: 9,
            blockHash: blockHash(`${toHex(p1.publicKey)}/9`),
            proposer: p1.publicKey,
            userBlockSlot: 9,
          },
        ],
      },
      {
        userBlockSlot: 10,
        activeProposers: both,
        entries: [
          {
            entryIndex: 15,
            blockHash: blockHash(`${toHex(p0.publicKey)}/10`),
            proposer: p0.publicKey,
            userBlockSlot: 10,
          },
        ],
      },
    ]);
    expect(
      slot5.record.votes.map((e) => [
        e.entryIndex,
        e.votes.map((v) => [v.signed, v.validatorIndex, v.vote.slot]),
      ]),
    ).toEqual([
      [
        11,
        [
          [signedVote(0, 3), 0, 3],
          [signedVote(1, 3), 1, 3],
        ],
      ],
    ]);
    expect(slot5.record.membershipChanges).toEqual([
      {
        entryIndex: 16,
        change: {
          proposer: p1.publicKey,
          action: "leave",
          cause: "request",
          recordedAtSlot: 5,
          effectiveSlot: 7,
        },
      },
    ]);
    expect(slot5.record.next.schedule.missesOf(p0.publicKey)).toBe(0);
    // p1 missed u = 10, but its leave was recorded in the same slot: a leaving proposer's misses do not count.
    expect(slot5.record.next.schedule.missesOf(p1.publicKey)).toBe(0);
    expect(slot5.record.bankHash).toBeNull();
  });

  it("reports the evictions a slot decides among its membership changes", () => {
    const { slot3 } = chain();
    // p0 and p1 record nothing in slots 4 and 5: 4 misses each (u = 7..10).
    const slot4 = buildSlot(context, slot3.record.next, 4);
    const slot5 = buildSlot(context, slot4.record.next, 5);
    expect(
      slot5.record.membershipChanges.map((c) => [c.entryIndex, c.change.cause, c.change.effectiveSlot]),
    ).toEqual([
      [null, "eviction", 7],
      [null, "eviction", 7],
    ]);
    expect(replaySlot(context, slot4.record.next, slot5.messages)).toEqual({
      ok: true,
      record: slot5.record,
    });
  });

  it("replays the same with an asynchronous PoH verifier", async () => {
    const { slot1 } = chain();
    expect(await replaySlotAsync(context, genesisState, slot1.messages)).toEqual({
      ok: true,
      record: slot1.record,
    });
  });

  it("groups a slot's LEDGER messages and decodes only canonical encodings", () => {
    const { slot1 } = chain();
    const { start, entries, end } = slot1.messages;
    const list: ledger.LedgerMessage[] = [
      { kind: { $case: "start", value: start } },
      ...entries.map((value) => ({ kind: { $case: "entry" as const, value } })),
      { kind: { $case: "end", value: end } },
    ];
    const decoded = list.map((m) => decodeLedgerMessage(ledger.LedgerMessage.encode(m).finish()));
    const messages = decoded.map((d) => (d.ok ? d.message : undefined)!);
    expect(groupSlotMessages(messages)).toEqual({ ok: true, slot: slot1.messages });
    expect(groupSlotMessages(list.slice(1))).toMatchObject({ ok: false, violation: { code: "MALFORMED" } });
    expect(groupSlotMessages([list[0]!, list[2]!, list[1]!, list.at(-1)!]).ok).toBe(true);
    expect(groupSlotMessages([list[0]!, list.at(-1)!, list[1]!]).ok).toBe(false);
    const bytes = ledger.LedgerMessage.encode(list[0]!).finish();
    // The same start with its key written as a two-byte varint.
    const padded = Uint8Array.from([bytes[0]! | 0x80, 0x00, ...bytes.subarray(1)]);
    expect(ledger.LedgerMessage.decode(padded)).toEqual(list[0]);
    expect(decodeLedgerMessage(padded)).toMatchObject({ ok: false, violation: { code: "MALFORMED" } });
    expect(decodeLedgerMessage(Uint8Array.of(0xff)).ok).toBe(false);
  });
});

describe("slot builder guards", () => {
  const violationOf = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      if (error instanceof SlotViolationError) return error.violation.code;
      throw error;
    }
    throw new Error("expected a SlotViolationError");
  };

  it("builds only the scheduled leader's slot on the given parent", () => {
    const wrongLeader = context.genesis.validators
      .map((_, i) => validatorKey(i))
      .find((k) => compareBytes(k.publicKey, leaderKey(context, 1).publicKey) !== 0)!;
    expect(violationOf(() => new SlotBuilder(context, genesisState, 1, wrongLeader.publicKey))).toBe(
      "WRONG_LEADER",
    );
    expect(
      violationOf(() => new SlotBuilder(context, genesisState, 0, leaderKey(context, 1).publicKey)),
    ).toBe("WRONG_PARENT");
  });

  it("refuses, changing nothing, what the replayer would refuse", () => {
    const builder = new SlotBuilder(context, genesisState, 2, leaderKey(context, 2).publicKey);
    // Slot 1 was skipped: its 8 ticks come first.
    expect(builder.canRecord).toBe(false);
    expect(violationOf(() => builder.recordVotes([signedVote(0, 0)]))).toBe("BAD_TICKS");
    for (let i = 0; i < 8; i++) builder.tick();
    expect(builder.canRecord).toBe(true);
    const entry = (userBlockSlot: number) => () =>
      builder.recordUserBlock({ blockHash: blockHash("x"), proposer: p0.publicKey, userBlockSlot });
    // Tick height 16: u = 3 is recorded from 17, u = 4 from 21; u = 5 belongs to slot 3.
    expect(violationOf(entry(3))).toBe("USER_BLOCK_TOO_EARLY");
    expect(violationOf(entry(5))).toBe("USER_BLOCK_WRONG_SLOT");
    builder.tick();
    expect(violationOf(entry(3))).toBe("USER_BLOCK_UNSCHEDULED");
    const future = membershipRequest(p0, JOIN, 3);
    const fresh = membershipRequest(p0, JOIN, 2);
    expect(builder.recordMembership(fresh.request, future.signature)).toMatchObject({
      ok: false,
      violation: { code: "BAD_MEMBERSHIP", membershipReason: "BAD_SIGNATURE" },
    });
    expect(builder.recordMembership(future.request, future.signature)).toMatchObject({
      ok: false,
      violation: { code: "BAD_MEMBERSHIP", membershipReason: "FROM_FUTURE" },
    });
    expect(builder.entryCount).toBe(9);
    expect(builder.recordMembership(fresh.request, fresh.signature).ok).toBe(true);
    expect(builder.entryCount).toBe(10);
    expect(builder.recordVotes([signedVote(0, 1), signedVote(1, 2)])).toMatchObject({
      ok: false,
      violation: { code: "BAD_VOTE", entryIndex: 10 },
    });
    expect(builder.recordVotes([signedVote(0, 1)]).ok).toBe(true);
    expect(builder.entryCount).toBe(11);
  });

  it("hashes up to the tick, records only with room before it, and ends only after the last tick", async () => {
    const builder = new SlotBuilder(context, genesisState, 1, leaderKey(context, 1).publicKey);
    expect(builder.hashesUntilTick).toBe(15);
    expect(await builder.hashAsync(4)).toBe(4);
    expect(builder.hash(100)).toBe(11);
    expect(builder.canRecord).toBe(false);
    expect(violationOf(() => builder.recordVotes([signedVote(0, 0)]))).toBe("BAD_TICKS");
    expect(builder.tick().entry!.numHashes).toBe(16);
    expect(violationOf(() => builder.end())).toBe("BAD_TICKS");
    while (!builder.complete) builder.tick();
    expect(builder.tickHeight).toBe(16);
    expect(violationOf(() => builder.hash(1))).toBe("BAD_TICKS");
    expect(violationOf(() => builder.tick())).toBe("BAD_TICKS");
    builder.end();
    expect(() => builder.end()).toThrow(/ended/);
  });
});

describe("sync mode", () => {
  const sync = createLedgerContext(fixtureGenesis({ mode: ExecutionMode.EXECUTION_MODE_SYNC }));
  const syncGenesis = genesisChainState(sync);
  const bankHash = sha256(new TextEncoder().encode("bank"));

  it("records the leader's transactions and its BankHash, and replays them", () => {
    const items = [transferItem(sync.genesis, 0, 1), transferItem(sync.genesis, 1, 2)];
    const slot = buildSlot(
      sync,
      syncGenesis,
      1,
      new Map([[9, [(b: SlotBuilder) => b.recordTransactions(items)]]]),
      bankHash,
    );
    expect(slot.record.transactionEntries).toEqual([{ entryIndex: 1, items }]);
    expect(slot.record.bankHash).toEqual(bankHash);
    expect(replaySlot(sync, syncGenesis, slot.messages)).toEqual({ ok: true, record: slot.record });
  });

  it("takes no UserBlockEntry, and ends only with a BankHash", () => {
    const builder = new SlotBuilder(sync, syncGenesis, 1, leaderKey(sync, 1).publicKey);
    builder.tick();
    expect(() =>
      builder.recordUserBlock({ blockHash: blockHash("x"), proposer: p0.publicKey, userBlockSlot: 1 }),
    ).toThrow(/WRONG_MODE/);
    while (!builder.complete) builder.tick();
    expect(() => builder.end()).toThrow(/BAD_END/);
    expect(builder.end(bankHash).record.bankHash).toEqual(bankHash);
  });
});
