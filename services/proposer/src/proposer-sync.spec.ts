import { randomBytes } from "node:crypto";
import type { Replay } from "@simd23/bus";
import {
  compareBytes,
  deriveKeypair,
  ExecutionMode,
  KEY_ROLES,
  keypairFromSeed,
  routeTransaction,
  toHex,
} from "@simd23/core";
import { tx } from "@simd23/proto";
import { StatusIndex, subjects } from "@simd23/runtime";
import { SyncTestLedger } from "@simd23/runtime/testing";
import { afterEach, describe, expect, it } from "vitest";
import { intakeMarkerKey } from "./private/intake-wire.js";
import {
  InProcessCluster,
  metricValue,
  proposerStatus,
  type RunningProposer,
  submit,
  waitFor,
} from "./testing/cluster.js";

const DROPPED = 7; // ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED

describe("a proposer replica in sync mode, on the in-process bus and store", () => {
  let cluster: InProcessCluster | undefined;
  let feed: Replay | undefined;
  afterEach(async () => {
    feed?.stop();
    await cluster?.close();
    cluster = undefined;
  });

  /**
   * A sync cluster whose stand-in leader executes, in each slot it is asked to
   * produce, everything the proposers fed on INTAKE since the last one.
   */
  async function start() {
    const c = new InProcessCluster({
      mode: ExecutionMode.EXECUTION_MODE_SYNC,
      proposerPool: 2,
      timing: { blockhashValiditySlots: 6 },
      // What is still pending at shutdown waits up to 70 % of the deadline to settle.
      env: { SIMD23_PROPOSER_SETTLE_DEPTH_SLOTS: "2", SIMD23_SHUTDOWN_DEADLINE_MS: "2000" },
    });
    cluster = c;
    const leader = new SyncTestLedger(c.bus, c.genesis, c.clusterSeed);
    const fed: tx.TransactionItem[] = [];
    feed = c.bus.replay({ stream: "INTAKE", filterSubjects: ["intake.>"], start: "all" });
    const reading = feed;
    void (async () => {
      for await (const message of reading) fed.push(tx.TransactionItem.decode(message.data));
    })();
    await leader.produceSlot(1);
    const produce = async (options: { parent?: number; withFed?: boolean } = {}) => {
      if (options.withFed ?? true) for (const item of fed.splice(0)) leader.submit(item);
      return leader.produceSlot(leader.newestSlot + 1, options.parent ?? leader.newestSlot);
    };
    return { c, leader, fed, produce };
  }

  const faucetTransaction = (c: InProcessCluster, leader: SyncTestLedger) =>
    c.transaction({
      payer: deriveKeypair(c.clusterSeed, KEY_ROLES.faucet, 0),
      blockhash: leader.state(leader.newestSlot)!.lastHash,
    });

  it("stores each item in INTAKE as the leaders' feed, builds no UserBlock, joins no schedule, and settles it once a settled slot holds it", async () => {
    const { c, leader, fed, produce } = await start();
    const p = await c.startProposer();
    const sent = faucetTransaction(c, leader);
    const response = await submit(p.client, sent.wire);
    expect(toHex(response.signature)).toBe(toHex(sent.id));
    const index = new StatusIndex({ store: c.store });
    await waitFor(
      "received in the status index",
      async () => (await index.get([sent.id]))[0]!.levels.length > 0,
    );
    expect((await index.get([sent.id]))[0]!.levels.map((l) => l.level)).toEqual([1]);
    await waitFor("the item on the feed", () => fed.length === 1);
    expect((await proposerStatus(p.client)).queueDepth).toBe(1);

    await produce();
    const recordedIn = leader.newestSlot;
    expect(leader.record(recordedIn)!.transactionEntries.flatMap((e) => e.items)).toHaveLength(1);
    await waitFor(
      "the item recorded: it no longer waits",
      async () => (await proposerStatus(p.client)).queueDepth === 0,
    );
    for (let i = 0; i < 3; i++) await produce();
    // Settled: a graceful shutdown finds nothing pending under its key and clears the key's marker.
    await c.stopProposer(p);
    expect(await c.store.get(intakeMarkerKey(0))).toBeUndefined();
    expect(await metricValue(p, "simd23_proposer_user_blocks_built_total")).toBe(0);
    for (const stream of ["USERBLOCKS", "CONTROL"] as const) {
      const stored = c.bus.replay({
        stream,
        filterSubjects: [stream === "USERBLOCKS" ? subjects.allUserBlocks : "control.>"],
        start: "all",
        stopAtEnd: true,
      });
      let count = 0;
      for await (const _ of stored) count += 1;
      expect(count).toBe(0);
    }
  });

  it("waits again when the slot that recorded an item leaves the chain, and drops what the leader never records once its blockhash expires", async () => {
    const { c, leader, fed, produce } = await start();
    const p = await c.startProposer();
    const kept = faucetTransaction(c, leader);
    // A fresh payer with no lamports: the leader's bank refuses it without a fee, so it is never recorded.
    const unpaid = c.transaction({ blockhash: leader.state(leader.newestSlot)!.lastHash });
    await submit(p.client, kept.wire);
    await submit(p.client, unpaid.wire);
    await waitFor("both items on the feed", () => fed.length === 2);
    const items = [...fed];
    await produce();
    const abandoned = leader.newestSlot;
    await waitFor("one item recorded", async () => (await proposerStatus(p.client)).queueDepth === 1);
    // The next slot builds on the one before: the slot holding `kept` leaves the chain.
    await produce({ parent: abandoned - 1, withFed: false });
    await waitFor(
      "the item requeued",
      async () => (await metricValue(p, "simd23_proposer_transactions_requeued_total")) === 1,
    );
    expect((await proposerStatus(p.client)).queueDepth).toBe(2);
    // A leader on this chain executes it again (the feed still holds it).
    for (const item of items) leader.submit(item);
    await produce({ withFed: false });
    await waitFor("recorded again", async () => (await proposerStatus(p.client)).queueDepth === 1);
    // The unpaid one expires with its blockhash (6 slots) and is dropped, with its reason.
    for (let i = 0; i < 6; i++) await produce({ withFed: false });
    await waitFor(
      "dropped",
      async () =>
        (await metricValue(p, "simd23_proposer_transactions_dropped_total", {
          reason: "blockhash_expired",
        })) === 1,
    );
    const [status] = await new StatusIndex({ store: c.store }).get([unpaid.id]);
    expect(status!.levels.at(-1)?.level).toBe(DROPPED);
    expect(status!.droppedReason).toMatch(/blockhash expired/);
    expect((await proposerStatus(p.client)).queueDepth).toBe(0);
  });

  it("routes by fee payer over the live pool keys, which it reports as the active set", async () => {
    const { c, leader } = await start();
    const [a, b] = [await c.startProposer(), await c.startProposer()];
    const identities = c.genesis.proposerPool.map((p) => p.identity).sort(compareBytes);
    await waitFor(
      "both replicas in the routing set",
      async () => (await proposerStatus(a.client)).activeProposers.length === 2,
    );
    const status = await proposerStatus(a.client);
    expect(status.activeProposers.map(toHex)).toEqual(identities.map(toHex));
    expect(status.scheduled).toBe(true);
    const owner = (running: RunningProposer) => c.genesis.proposerPool[running.role.poolIndex!]!.identity;
    let forwarded = 0;
    for (let i = 0; i < 12; i++) {
      const payer = keypairFromSeed(new Uint8Array(randomBytes(32)));
      const sent = c.transaction({ payer, blockhash: leader.state(leader.newestSlot)!.lastHash });
      const response = await submit(a.client, sent.wire);
      const routed = routeTransaction(payer.publicKey, identities)!;
      expect(toHex(response.proposer)).toBe(toHex(routed));
      if (response.forwarded) {
        forwarded += 1;
        expect(toHex(response.proposer)).toBe(toHex(owner(b)));
      }
    }
    expect(forwarded).toBeGreaterThan(0);
  });
});
