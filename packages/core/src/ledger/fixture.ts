import { ledger, type tx, type vote } from "@simd23/proto";
import { bytesEqual, utf8 } from "../bytes.js";
import { buildVote, signVote } from "../consensus/vote.js";
import { EnvelopeKind, signEnvelope } from "../envelope/index.js";
import { createTestnetGenesis, type Genesis, KEY_ROLES, type TestnetGenesisOptions } from "../genesis.js";
import { sha256 } from "../hash.js";
import { deriveKeypair, type Keypair, keypairFromSeed } from "../keys.js";
import { nextEntryHash } from "../poh/entry.js";
import { buildTransaction, transferInstruction } from "../tx/index.js";
import { type Recording, SlotBuilder } from "./builder.js";
import type { ChainState, LedgerContext } from "./context.js";
import {
  membershipEntryMixin,
  transactionEntryMixin,
  userBlockEntryMixin,
  voteEntryMixin,
} from "./mixins.js";
import type { SlotRecord } from "./record.js";
import type { SlotMessages } from "./replay.js";
import type { EntryPayload } from "./rules.js";

/**
 * Shared by the schedule, UserBlock and ledger specs: a small, fast cluster
 * (8 ticks of 16 hashes per slot, 4 proposer hashes per tick, 4-slot windows,
 * 32-slot epochs) and builders for its keys, transactions and requests.
 */

export const CLUSTER_SEED = sha256(utf8("simd23/schedule-ledger-fixture"));

export const FIXTURE_TIMING = {
  ticksPerSlot: 8,
  hashesPerTick: 16,
  proposerHashesPerTick: 4,
  slotsPerLeaderWindow: 4,
  slotsPerEpoch: 32,
  graceTicks: 1,
  membershipDelaySlots: 2,
  maxProposersPerUserBlockSlot: 3,
  proposerEvictionUserBlockSlots: 4,
  membershipRequestValiditySlots: 4,
} as const;

export function fixtureGenesis(overrides: Partial<TestnetGenesisOptions> = {}): Genesis {
  return createTestnetGenesis({
    clusterName: "schedule-ledger-fixture",
    clusterSeed: CLUSTER_SEED,
    startTimeMs: 1_700_000_000_000n,
    validators: 4,
    stake: [4_000n, 3_000n, 2_000n, 1_000n],
    leaders: 4,
    proposerPool: 5,
    ...overrides,
    timing: { ...FIXTURE_TIMING, ...overrides.timing },
  });
}

export function validatorKey(i: number): Keypair {
  return deriveKeypair(CLUSTER_SEED, KEY_ROLES.validator, i);
}

export function proposerKey(i: number): Keypair {
  return deriveKeypair(CLUSTER_SEED, KEY_ROLES.proposer, i);
}

export function userKey(i: number): Keypair {
  return keypairFromSeed(sha256(utf8(`simd23/schedule-ledger-fixture/user/${i}`)));
}

/** A valid, signed transfer from user `from`, distinct per (from, nonce). */
export function transferItem(
  genesis: Genesis,
  from: number,
  nonce: number,
  computeUnitLimit = 1_000,
): tx.TransactionItem {
  const transaction = buildTransaction(
    {
      recentBlockhash: sha256(utf8("recent blockhash")),
      computeUnitLimit,
      computeUnitPrice: BigInt(nonce),
      instructions: [transferInstruction(0, userKey(from + 1).publicKey, BigInt(nonce + 1))],
    },
    [userKey(from)],
    genesis.limits,
  );
  return { item: { $case: "transaction", value: transaction.wire } };
}

export function bundleItem(genesis: Genesis, from: number, count: number): tx.TransactionItem {
  const transactions = Array.from({ length: count }, (_, i) => {
    const item = transferItem(genesis, from + i, i);
    if (item.item?.$case !== "transaction") throw new Error("unreachable");
    return item.item.value;
  });
  return { item: { $case: "bundle", value: { transactions } } };
}

/** A membership request as the leader receives it: the envelope body and the envelope's signature. */
export function membershipRequest(
  proposer: Keypair,
  action: ledger.MembershipAction,
  requestedAtSlot: number,
): { readonly request: Uint8Array; readonly signature: Uint8Array } {
  const request = ledger.MembershipRequest.encode({
    proposer: proposer.publicKey,
    action,
    requestedAtSlot,
  }).finish();
  const signed = signEnvelope(proposer, EnvelopeKind.KIND_MEMBERSHIP_REQUEST, request);
  return { request, signature: signed.signature };
}

export const JOIN = ledger.MembershipAction.MEMBERSHIP_ACTION_JOIN;
export const LEAVE = ledger.MembershipAction.MEMBERSHIP_ACTION_LEAVE;

/** Validator `validator`'s signed vote on `slot` (its first vote: a tower of one lockout). */
export function signedVote(validator: number, slot: number): vote.SignedVote {
  const key = validatorKey(validator);
  return signVote(
    key,
    buildVote({
      validator: key.publicKey,
      slot,
      slotHash: sha256(utf8(`slot ${slot}`)),
      tower: { lockouts: [{ slot, confirmationCount: 1 }], root: null },
      bankHash: null,
      timestampMs: 0,
    }),
  );
}

/** The validator keypair the leader schedule names for a slot. */
export function leaderKey(context: LedgerContext, slot: number): Keypair {
  const leader = context.leaders.leaderOf(slot);
  for (let i = 0; i < context.genesis.validators.length; i++)
    if (bytesEqual(validatorKey(i).publicKey, leader)) return validatorKey(i);
  throw new Error(`no fixture key leads slot ${slot}`);
}

/** What a test leader records when its PoH reaches a tick height: each action records one entry. */
export type SlotActions = ReadonlyMap<number, readonly ((builder: SlotBuilder) => ledger.SlotEntry)[]>;

/**
 * Drives a SlotBuilder like a leader service: at each tick height it runs the
 * actions for it (one hash before each), then hashes three times and ticks.
 */
export function buildSlot(
  context: LedgerContext,
  parent: ChainState,
  slot: number,
  actions: SlotActions = new Map(),
  bankHash?: Uint8Array,
): { readonly messages: SlotMessages; readonly record: SlotRecord } {
  const builder = new SlotBuilder(context, parent, slot, leaderKey(context, slot).publicKey);
  const entries: ledger.SlotEntry[] = [];
  builder.hash(2);
  while (!builder.complete) {
    for (const action of actions.get(builder.tickHeight) ?? []) {
      builder.hash(1);
      entries.push(action(builder));
    }
    builder.hash(3);
    entries.push(builder.tick());
  }
  const { end, record } = builder.end(bankHash);
  return { messages: { start: builder.start, entries, end }, record };
}

/** An action recording a membership request the rules accept. */
export function joinOrLeave(
  proposer: Keypair,
  action: ledger.MembershipAction,
  requestedAtSlot: number,
): (builder: SlotBuilder) => ledger.SlotEntry {
  return (builder) => {
    const { request, signature } = membershipRequest(proposer, action, requestedAtSlot);
    return recorded(builder.recordMembership(request, signature));
  };
}

/** The entry of a recording the rules accepted. */
export function recorded(recording: Recording): ledger.SlotEntry {
  if (!recording.ok) throw new Error(recording.violation.detail);
  return recording.entry;
}

/** The PoH mixin of a payload, computed independently of the rules. */
export function mixinOf(payload: EntryPayload): Uint8Array | null {
  switch (payload.$case) {
    case "tick":
      return null;
    case "votes":
      return voteEntryMixin(payload.value.votes);
    case "userBlock":
      return userBlockEntryMixin(payload.value);
    case "membership":
      return membershipEntryMixin(payload.value);
    case "transactions":
      return transactionEntryMixin(payload.value.items);
  }
}

export interface ForgedEntry {
  readonly numHashes: number;
  readonly payload: EntryPayload;
}

export const TICK: EntryPayload = { $case: "tick", value: {} };

/** n ticks of hashesPerTick hashes each. */
export function ticks(context: LedgerContext, n: number): ForgedEntry[] {
  return Array.from({ length: n }, () => ({
    numHashes: context.genesis.timing.hashesPerTick,
    payload: TICK,
  }));
}

/**
 * A slot with whatever entries it is given, each carrying the hash that
 * follows from its predecessor: for testing the rules other than PoH.
 */
export function forgeSlot(
  context: LedgerContext,
  parent: ChainState,
  slot: number,
  entries: readonly ForgedEntry[],
): SlotMessages {
  let hash = parent.lastHash;
  const slotEntries = entries.map((entry, index): ledger.SlotEntry => {
    hash = nextEntryHash(hash, entry.numHashes, mixinOf(entry.payload));
    return { slot, index, entry: { numHashes: entry.numHashes, hash, payload: entry.payload } };
  });
  return {
    start: {
      slot,
      parentSlot: parent.slot,
      parentHash: parent.lastHash,
      leader: leaderKey(context, slot).publicKey,
    },
    entries: slotEntries,
    end: {
      slot,
      parentSlot: parent.slot,
      entryCount: entries.length,
      lastHash: hash,
      bankHash: new Uint8Array(0),
    },
  };
}
