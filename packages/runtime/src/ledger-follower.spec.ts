import { randomBytes } from "node:crypto";
import { type Bus, connectNatsBus, createMemoryBus } from "@simd23/bus";
import {
  type ChainState,
  createLedgerContext,
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  genesisChainState,
  KEY_ROLES,
  type Keypair,
  type LedgerContext,
  SlotBuilder,
  toHex,
} from "@simd23/core";
import { ledger } from "@simd23/proto";
import { afterEach, describe, expect, it } from "vitest";
import { type DeadSlot, type FollowedSlot, LedgerFollower } from "./ledger-follower.js";
import { SignedPublisher } from "./publisher.js";
import { subjects } from "./subjects.js";

const seed = new Uint8Array(32).fill(9);
const genesis = createTestnetGenesis({
  clusterName: "follower",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 2,
  leaders: 2,
  proposerPool: 2,
  timing: {
    ticksPerSlot: 8,
    hashesPerTick: 16,
    proposerHashesPerTick: 4,
    graceTicks: 1,
    slotsPerLeaderWindow: 2,
  },
});
const context: LedgerContext = createLedgerContext(genesis);
const leaders: Keypair[] = genesis.validators.map((_, i) => deriveKeypair(seed, KEY_ROLES.validator, i));

function leaderFor(slot: number): Keypair {
  const identity = toHex(context.leaders.leaderOf(slot));
  return leaders.find((k) => toHex(k.publicKey) === identity)!;
}

/** Builds a slot of ticks only on parent and returns its messages and next state. */
function buildSlot(parent: ChainState, slot: number): { messages: ledger.LedgerMessage[]; next: ChainState } {
  const builder = new SlotBuilder(context, parent, slot, leaderFor(slot).publicKey);
  const messages: ledger.LedgerMessage[] = [{ kind: { $case: "start", value: builder.start } }];
  while (!builder.complete) {
    builder.hash(builder.hashesUntilTick);
    messages.push({ kind: { $case: "entry", value: builder.tick() } });
  }
  const { end, record } = builder.end();
  messages.push({ kind: { $case: "end", value: end } });
  return { messages, next: record.next };
}

async function publishSlot(
  bus: Bus,
  slot: number,
  messages: readonly ledger.LedgerMessage[],
  signer: Keypair = leaderFor(slot),
): Promise<void> {
  const publisher = new SignedPublisher(bus, signer);
  for (const message of messages) {
    await publisher.publish(
      EnvelopeKind.KIND_LEDGER,
      subjects.ledgerSlot(slot),
      ledger.LedgerMessage.encode(message).finish(),
    );
  }
}

const natsUrl = process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222";
const adapters: [string, () => Promise<Bus>][] = [
  ["in-process", async () => createMemoryBus({ namespace: `follower-${randomBytes(4).toString("hex")}` })],
  [
    "NATS JetStream",
    () =>
      connectNatsBus({
        servers: natsUrl,
        namespace: `follower-${randomBytes(4).toString("hex")}`,
        name: "follower-test",
      }),
  ],
];

/** A slot's messages with entry `index`'s PoH hash zeroed: its PoH no longer verifies. */
function withZeroedEntryHash(messages: ledger.LedgerMessage[], index: number): ledger.LedgerMessage[] {
  return messages.map((m) =>
    m.kind?.$case === "entry" && m.kind.value.index === index
      ? {
          kind: {
            ...m.kind,
            value: { ...m.kind.value, entry: { ...m.kind.value.entry!, hash: new Uint8Array(32) } },
          },
        }
      : m,
  );
}

describe.each(adapters)("LedgerFollower on the %s bus", (_, open) => {
  let bus: Bus | undefined;
  let follower: LedgerFollower | undefined;
  afterEach(async () => {
    await follower?.stop();
    await bus?.deleteStreams();
    await bus?.close();
  });

  it("replays history, then follows live slots, skipped slots and out-of-order parents", async () => {
    bus = await open();
    const s1 = buildSlot(genesisChainState(context), 1);
    const s2 = buildSlot(s1.next, 2);
    await publishSlot(bus, 1, s1.messages);
    await publishSlot(bus, 2, s2.messages);

    follower = new LedgerFollower({ bus, context });
    const seen: FollowedSlot[] = [];
    follower.onSlot((slot) => seen.push(slot));
    await follower.start();
    expect(follower.caughtUp).toBe(true);
    expect(seen.map((s) => s.record.slot)).toEqual([1, 2]);

    // Slot 4 skips slot 3 and arrives before slot 5, which builds on it.
    const s4 = buildSlot(s2.next, 4);
    const s5 = buildSlot(s4.next, 5);
    await publishSlot(bus, 5, s5.messages);
    await publishSlot(bus, 4, s4.messages);
    await expect.poll(() => seen.map((s) => s.record.slot), { timeout: 5_000 }).toEqual([1, 2, 4, 5]);
    expect(follower.parentOf(4)).toBe(2);
    expect(follower.ancestors(5)).toEqual([4, 2, 1, 0]);
    expect(follower.newestSlot).toBe(5);
    expect([...follower.recentBlockhashes(5).values()]).toEqual([5, 4, 2, 1, 0]);
    expect(follower.state(5)?.lastHash).toEqual(s5.next.lastHash);
  });

  it("marks a slot with a tampered entry dead, with its children, and ignores unsigned garbage", async () => {
    bus = await open();
    const s1 = buildSlot(genesisChainState(context), 1);
    const s2 = buildSlot(s1.next, 2);
    const tampered = withZeroedEntryHash(s1.messages, 3);
    await bus.publish(subjects.ledgerSlot(1), new Uint8Array([1, 2, 3]));
    await publishSlot(bus, 1, tampered);
    await publishSlot(bus, 2, s2.messages);

    const errors: Error[] = [];
    follower = new LedgerFollower({ bus, context, onError: (e) => errors.push(e) });
    const dead: DeadSlot[] = [];
    follower.onDeadSlot((d) => dead.push(d));
    await follower.start();
    expect(dead.map((d) => [d.slot, d.violation.code])).toEqual([
      [1, "BAD_POH"],
      [2, "WRONG_PARENT"],
    ]);
    expect(follower.isDead(2)).toBe(true);
    expect(follower.newestSlot).toBe(0);
    expect(errors.some((e) => /LEDGER seq 1/.test(e.message))).toBe(true);
  });

  it("with trustScheduledLeaderPoh takes the scheduled leader's slot without checking its PoH (a proposer's view)", async () => {
    bus = await open();
    const s1 = buildSlot(genesisChainState(context), 1);
    const s2 = buildSlot(s1.next, 2);
    const tampered = withZeroedEntryHash(s1.messages, 3);
    await publishSlot(bus, 1, tampered);
    await publishSlot(bus, 2, s2.messages);

    follower = new LedgerFollower({ bus, context, trustScheduledLeaderPoh: true });
    const seen: FollowedSlot[] = [];
    const dead: DeadSlot[] = [];
    follower.onSlot((slot) => seen.push(slot));
    follower.onDeadSlot((d) => dead.push(d));
    await follower.start();
    expect(dead).toEqual([]);
    expect(seen.map((s) => s.record.slot)).toEqual([1, 2]);
  });

  it("drops a slot signed by another leader-running validator, so the scheduled leader's slot still counts", async () => {
    bus = await open();
    const s1 = buildSlot(genesisChainState(context), 1);
    const impostor = leaders.find((k) => toHex(k.publicKey) !== toHex(leaderFor(1).publicKey))!;
    await publishSlot(bus, 1, s1.messages, impostor);
    await publishSlot(bus, 1, s1.messages);

    const errors: Error[] = [];
    follower = new LedgerFollower({ bus, context, onError: (e) => errors.push(e) });
    const seen: number[] = [];
    follower.onSlot((slot) => seen.push(slot.record.slot));
    await follower.start();
    expect(seen).toEqual([1]);
    expect(follower.isDead(1)).toBe(false);
    expect(errors.some((e) => /not by the leader it names/.test(e.message))).toBe(true);
  });
});
