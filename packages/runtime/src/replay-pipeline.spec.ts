import { randomBytes } from "node:crypto";
import { type Bus, createMemoryBus } from "@simd23/bus";
import {
  type Bank,
  bytesEqual,
  createGenesisBank,
  createLedgerContext,
  createTestnetGenesis,
  decodeBankSnapshot,
  deriveKeypair,
  encodeBankSnapshot,
  executeSlot,
  KEY_ROLES,
  keypairFromSeed,
  sha256,
  toHex,
  utf8,
} from "@simd23/core";
import { tx } from "@simd23/proto";
import { createMemoryStore, type Store } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { ProposerDirectory } from "./proposer-directory.js";
import {
  type ExecutedSlot,
  proposerIdentitiesHex,
  type RepairEvent,
  ReplayPipeline,
} from "./replay-pipeline.js";
import { startRepairServer, TestLedger } from "./testing/index.js";

const seed = sha256(utf8("simd23/replay-pipeline-spec"));
const genesis = createTestnetGenesis({
  clusterName: "replay-pipeline",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 2,
  leaders: 1,
  proposerPool: 2,
  timing: {
    ticksPerSlot: 8,
    hashesPerTick: 64,
    proposerHashesPerTick: 4,
    graceTicks: 1,
    slotsPerLeaderWindow: 2,
    membershipDelaySlots: 1,
    proposerEvictionUserBlockSlots: 6,
  },
});
const OK = tx.ExecutionStatus.EXECUTION_STATUS_OK;
const faucet = deriveKeypair(seed, KEY_ROLES.faucet, 0);
const alice = keypairFromSeed(sha256(utf8("alice"))).publicKey;
const bob = keypairFromSeed(sha256(utf8("bob"))).publicKey;

/** The BankHash chain computed directly with the core from the records and blocks the test ledger produced. */
function referenceBanks(
  ledger: TestLedger,
  slots: readonly number[],
  root: Bank = createGenesisBank(genesis),
) {
  const banks = new Map<number, Bank>([[root.slot, root]]);
  for (const slot of slots) {
    const record = ledger.record(slot)!;
    const parent = banks.get(record.parentSlot)!;
    const { bank } = executeSlot(parent, {
      slot,
      lastPohHash: record.lastHash,
      userBlockSlots: record.userBlockSlots.map((u) => ({
        userBlockSlot: u.userBlockSlot,
        blocks: u.entries.map((entry) => ({
          proposer: entry.proposer,
          entryIndex: entry.entryIndex,
          items: ledger.blocks.get(toHex(entry.blockHash))!.items.map((p) => ({
            item: p.item,
            pohPosition: p.pohPosition,
          })),
        })),
      })),
    });
    banks.set(slot, bank);
  }
  return banks;
}

describe("ReplayPipeline on the in-process bus and store", () => {
  let bus: Bus;
  let store: Store;
  const pipelines: ReplayPipeline[] = [];
  const stops: (() => Promise<void>)[] = [];

  function open(): { bus: Bus; store: Store; ledger: TestLedger; directory: ProposerDirectory } {
    const namespace = `pipeline-${randomBytes(4).toString("hex")}`;
    bus = createMemoryBus({ namespace });
    store = createMemoryStore({ namespace });
    return {
      bus,
      store,
      ledger: new TestLedger(bus, genesis, seed),
      directory: new ProposerDirectory(store, genesis),
    };
  }

  function pipeline(options: Omit<ConstructorParameters<typeof ReplayPipeline>[0], "bus" | "context">) {
    const made = new ReplayPipeline({ bus, context: createLedgerContext(genesis), ...options });
    pipelines.push(made);
    return made;
  }

  afterEach(async () => {
    for (const p of pipelines.splice(0)) await p.stop();
    for (const stop of stops.splice(0)) await stop();
    await bus.close();
    await store.close();
  });

  it("fetches every UserBlock, executes each slot once in order and chains the core's BankHashes", async () => {
    const { ledger, directory } = open();
    ledger.join(0, 1);
    for (let slot = 1; slot <= 3; slot++) await ledger.produceSlot(slot);
    ledger.transfer(faucet, alice, 700n);
    ledger.transfer(faucet, bob, 300n);
    await ledger.produceSlot(4);

    const executed: ExecutedSlot[] = [];
    const ready: number[] = [];
    const p = pipeline({ directory, rootBank: createGenesisBank(genesis) });
    p.onReady((s) => ready.push(s.record.slot));
    p.onExecuted((e) => executed.push(e));
    await p.start();
    await ledger.produceSlot(5);
    await expect.poll(() => executed.map((e) => e.slot), { timeout: 5_000 }).toEqual([1, 2, 3, 4, 5]);

    expect(ready).toEqual([1, 2, 3, 4, 5]);
    const reference = referenceBanks(ledger, [1, 2, 3, 4, 5]);
    for (const e of executed) expect(toHex(e.bankHash)).toBe(toHex(reference.get(e.slot)!.bankHash));
    const slot4 = ledger.record(4)!;
    expect(slot4.userBlockSlots.flatMap((u) => u.entries)).toHaveLength(4);
    expect(executed[3]!.results.map((r) => r.status)).toEqual([OK, OK]);
    expect(p.newestExecutedBank().balance(alice)).toBe(700n);
    expect(p.newestExecutedBank().balance(bob)).toBe(300n);
    expect(p.newestExecutedOnChain(5)?.slot).toBe(5);
    expect(p.missingUserBlocks).toBe(0);
  });

  it("executes both sides of a fork, and rooting drops the other side", async () => {
    const { ledger, directory } = open();
    ledger.join(0);
    await ledger.produceSlot(1);
    await ledger.produceSlot(2, 1);
    await ledger.produceSlot(3, 1);
    await ledger.produceSlot(4, 2);
    const executed = new Map<number, ExecutedSlot>();
    const rooted: number[] = [];
    const p = pipeline({ directory, rootBank: createGenesisBank(genesis) });
    p.onExecuted((e) => executed.set(e.slot, e));
    p.onRooted(({ bank }) => rooted.push(bank.slot));
    await p.start();
    await expect.poll(() => [...executed.keys()].sort(), { timeout: 5_000 }).toEqual([1, 2, 3, 4]);
    const reference = referenceBanks(ledger, [1, 2, 3, 4]);
    for (const slot of [2, 3, 4]) expect(executed.get(slot)!.bankHash).toEqual(reference.get(slot)!.bankHash);
    expect(bytesEqual(executed.get(2)!.bankHash, executed.get(3)!.bankHash)).toBe(false);

    p.setRoot(2);
    expect(rooted).toEqual([2]);
    expect(p.rootSlot).toBe(2);
    expect(p.forks.get(3)).toBeUndefined();
    expect(p.isTracked(3)).toBe(false);
    expect(p.forks.get(4)?.isFrozen).toBe(true);
    await ledger.produceSlot(5, 3);
    await ledger.produceSlot(6, 4);
    await expect.poll(() => executed.has(6), { timeout: 5_000 }).toBe(true);
    expect(executed.has(5)).toBe(false);
  });

  it("does not make a slot ready while a UserBlock is missing, repairs it from its proposer, then executes", async () => {
    const { ledger, directory, store: s } = open();
    let serving = false;
    const server = await startRepairServer(ledger, () => serving);
    stops.push(server.stop);
    const proposer1 = new ProposerDirectory(s, genesis);
    await proposer1.claim("test-proposer-1", server.address, 60_000, 1);

    ledger.join(0, 1);
    for (let slot = 1; slot <= 3; slot++) await ledger.produceSlot(slot);
    const repairs: RepairEvent[] = [];
    const missing: number[] = [];
    const executed: number[] = [];
    const p = pipeline({
      directory,
      rootBank: createGenesisBank(genesis),
      ignoreStreamFrom: proposerIdentitiesHex(genesis, ["proposer-1"]),
      repairBackoffMinMs: 20,
      repairBackoffMaxMs: 100,
    });
    p.onRepair((r) => repairs.push(r));
    p.onMissingChanged((n) => missing.push(n));
    p.onExecuted((e) => executed.push(e.slot));
    await p.start();
    // The joins take effect at slot 2: slot 1 records no block, slot 2 one per proposer for u = 4, slot 3
    // one per proposer for u = 5 and 6, so proposer-1 has three blocks to repair.
    await expect.poll(() => p.missingUserBlocks, { timeout: 5_000 }).toBe(3);
    expect(p.isReady(1)).toBe(true);
    expect(p.isReady(2)).toBe(false);
    expect(executed).toEqual([1]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(p.isReady(2)).toBe(false);
    expect(server.requests.length).toBeGreaterThan(3);

    serving = true;
    await expect.poll(() => executed, { timeout: 5_000 }).toEqual([1, 2, 3]);
    expect(p.missingUserBlocks).toBe(0);
    expect(missing.at(-1)).toBe(0);
    // Proposer-0's blocks were published before the pipeline started: repaired by hash from the stream.
    const bySource = (source: string, proposer: number) =>
      repairs.filter(
        (r) => r.source === source && bytesEqual(r.ref.proposer, genesis.proposerPool[proposer]!.identity),
      ).length;
    expect([bySource("proposer", 1), bySource("stream", 0), repairs.length]).toEqual([3, 3, 6]);
    const reference = referenceBanks(ledger, [1, 2, 3]);
    expect(p.bankHashOf(3)).toEqual(reference.get(3)!.bankHash);
  });

  it("sees a delayed stream copy only after the delay, and repairs a block it missed live from the stream", async () => {
    const { ledger, directory } = open();
    ledger.join(0, 1);
    const repairs: RepairEvent[] = [];
    const readyAt = new Map<number, number>();
    const p = pipeline({
      directory,
      rootBank: createGenesisBank(genesis),
      delayStreamFrom: proposerIdentitiesHex(genesis, ["1"]),
      delayStreamMs: 300,
      repairBackoffMinMs: 1_000,
    });
    p.onRepair((r) => repairs.push(r));
    p.onReady((s) => readyAt.set(s.record.slot, Date.now()));
    await ledger.produceSlot(1);
    await p.start();
    await ledger.produceSlot(2);
    const producedAt = Date.now();
    await ledger.produceSlot(3);
    await expect.poll(() => readyAt.has(3), { timeout: 5_000 }).toBe(true);
    // Slot 1's blocks were published before the pipeline started: repaired by hash from the stream.
    expect(readyAt.get(1)).toBeLessThan(producedAt);
    expect(readyAt.get(2)! - producedAt).toBeGreaterThanOrEqual(250);
    expect(repairs.every((r) => r.source === "stream" && r.slot === 1)).toBe(true);
  });

  it("a snapshot of a rooted bank, restored, recomputes the same BankHashes from the replayed stream", async () => {
    const { ledger, directory } = open();
    ledger.join(0, 1);
    for (let slot = 1; slot <= 3; slot++) await ledger.produceSlot(slot);
    ledger.transfer(faucet, alice, 5n);
    for (let slot = 4; slot <= 5; slot++) await ledger.produceSlot(slot);
    ledger.transfer(faucet, bob, 6n);
    for (let slot = 6; slot <= 8; slot++) await ledger.produceSlot(slot);

    const first = pipeline({ directory, rootBank: createGenesisBank(genesis) });
    const firstHashes = new Map<number, string>();
    first.onExecuted((e) => firstHashes.set(e.slot, toHex(e.bankHash)));
    let snapshot: { bytes: Uint8Array; sequence: number } | undefined;
    first.onRooted(({ bank, sequence }) => {
      snapshot = { bytes: encodeBankSnapshot(bank), sequence };
    });
    await first.start();
    await expect.poll(() => firstHashes.size, { timeout: 5_000 }).toBe(8);
    first.setRoot(5);
    expect(snapshot?.sequence).toBeGreaterThan(0);

    const restored = decodeBankSnapshot(snapshot!.bytes, genesis);
    expect(restored.slot).toBe(5);
    const second = pipeline({ directory, rootBank: restored, trustPohThroughSlot: 5 });
    const secondHashes = new Map<number, string>();
    second.onExecuted((e) => secondHashes.set(e.slot, toHex(e.bankHash)));
    const fetchedSlots: number[] = [];
    second.onSlot((s) => fetchedSlots.push(s.record.slot));
    await second.start();
    await ledger.produceSlot(9);
    await expect.poll(() => [...secondHashes.keys()], { timeout: 5_000 }).toEqual([6, 7, 8, 9]);
    expect(fetchedSlots).toEqual([6, 7, 8, 9]);
    for (const slot of [6, 7, 8]) expect(secondHashes.get(slot)).toBe(firstHashes.get(slot));
    expect(second.newestExecutedBank().balance(bob)).toBe(6n);
    expect(second.newestExecutedBank().balance(alice)).toBe(5n);
  });
});

describe("proposerIdentitiesHex", () => {
  it("reads pool indices, names and hex keys, and refuses anything else", () => {
    const p0 = toHex(genesis.proposerPool[0]!.identity);
    const p1 = toHex(genesis.proposerPool[1]!.identity);
    expect(proposerIdentitiesHex(genesis, ["0", "proposer-1"])).toEqual(new Set([p0, p1]));
    expect(proposerIdentitiesHex(genesis, [p1.toUpperCase(), " "])).toEqual(new Set([p1]));
    expect(() => proposerIdentitiesHex(genesis, ["proposer-9"])).toThrow(RangeError);
  });
});
