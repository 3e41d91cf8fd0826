import { randomBytes } from "node:crypto";
import { type Bus, createMemoryBus } from "@simd23/bus";
import {
  createGenesisBank,
  createLedgerContext,
  createTestnetGenesis,
  deriveKeypair,
  ExecutionMode,
  executeSyncSlot,
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
import { type BankHashMismatch, type ExecutedSlot, ReplayPipeline } from "./replay-pipeline.js";
import { SyncTestLedger } from "./testing/index.js";

const seed = sha256(utf8("simd23/replay-pipeline-sync-spec"));
const genesis = createTestnetGenesis({
  clusterName: "replay-pipeline-sync",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 2,
  leaders: 1,
  proposerPool: 1,
  mode: ExecutionMode.EXECUTION_MODE_SYNC,
  timing: {
    ticksPerSlot: 8,
    hashesPerTick: 64,
    proposerHashesPerTick: 4,
    graceTicks: 1,
    slotsPerLeaderWindow: 2,
  },
});
const S = tx.ExecutionStatus;
const faucet = deriveKeypair(seed, KEY_ROLES.faucet, 0);
const alice = keypairFromSeed(sha256(utf8("alice"))).publicKey;
const bob = keypairFromSeed(sha256(utf8("bob"))).publicKey;

describe("ReplayPipeline in sync mode, on the in-process bus", () => {
  let bus: Bus;
  let store: Store;
  const pipelines: ReplayPipeline[] = [];

  function open(): { ledger: SyncTestLedger; pipeline: ReplayPipeline } {
    const namespace = `pipeline-sync-${randomBytes(4).toString("hex")}`;
    bus = createMemoryBus({ namespace });
    store = createMemoryStore({ namespace });
    const pipeline = new ReplayPipeline({
      bus,
      context: createLedgerContext(genesis),
      directory: new ProposerDirectory(store, genesis),
      rootBank: createGenesisBank(genesis),
    });
    pipelines.push(pipeline);
    return { ledger: new SyncTestLedger(bus, genesis, seed), pipeline };
  }

  afterEach(async () => {
    for (const p of pipelines.splice(0)) await p.stop();
    await bus.close();
    await store.close();
  });

  it("executes each slot's TransactionEntries in ledger order and is ready only once its BankHash is the leader's", async () => {
    const { ledger, pipeline } = open();
    const executed: ExecutedSlot[] = [];
    const ready: number[] = [];
    pipeline.onExecuted((e) => {
      // Ready comes after execution, never before: a sync validator executes before it votes.
      expect(pipeline.isReady(e.slot)).toBe(false);
      executed.push(e);
    });
    pipeline.onReady((s) => ready.push(s.record.slot));
    await ledger.produceSlot(1);
    // A low fee first and a high fee second: the ledger's order stands, not the fee order.
    const first = ledger.transfer(faucet, alice, 700n, 0n);
    const second = ledger.transfer(faucet, bob, 300n, 1_000n);
    await ledger.produceSlot(2);
    await pipeline.start();
    await ledger.produceSlot(3);
    await expect.poll(() => ready, { timeout: 5_000 }).toEqual([1, 2, 3]);

    expect(executed.map((e) => e.slot)).toEqual([1, 2, 3]);
    for (const e of executed) {
      expect(toHex(e.bankHash)).toBe(toHex(ledger.bank(e.slot)!.bankHash));
      expect(toHex(e.leaderBankHash!)).toBe(toHex(ledger.record(e.slot)!.bankHash!));
      expect(e.userBlockSlots).toEqual([]);
    }
    expect(executed[1]!.results.map((r) => [toHex(r.signature), r.status, r.userBlockSlot])).toEqual([
      [toHex(first.signatures[0]!), S.EXECUTION_STATUS_OK, 0],
      [toHex(second.signatures[0]!), S.EXECUTION_STATUS_OK, 0],
    ]);
    // The same chain the core computes from the records alone.
    let bank = createGenesisBank(genesis);
    for (const slot of [1, 2, 3]) {
      const record = ledger.record(slot)!;
      bank = executeSyncSlot(bank, {
        slot,
        lastPohHash: record.lastHash,
        transactionEntries: record.transactionEntries,
      }).bank;
      expect(toHex(bank.bankHash)).toBe(toHex(executed[slot - 1]!.bankHash));
    }
    expect(pipeline.newestExecutedBank().balance(alice)).toBe(700n);
    expect(pipeline.newestExecutedOnChain(3)?.slot).toBe(3);
  });

  it("reports a slot whose BankHash differs from its leader's; it and its children never become ready", async () => {
    const { ledger, pipeline } = open();
    const mismatches: BankHashMismatch[] = [];
    const ready: number[] = [];
    const executed: number[] = [];
    pipeline.onBankHashMismatch((m) => mismatches.push(m));
    pipeline.onReady((s) => ready.push(s.record.slot));
    pipeline.onExecuted((e) => executed.push(e.slot));
    await pipeline.start();
    await ledger.produceSlot(1);
    ledger.transfer(faucet, alice, 5n);
    await ledger.produceSlot(2, 1, { wrongBankHash: true });
    await ledger.produceSlot(3);
    await expect.poll(() => executed, { timeout: 5_000 }).toEqual([1, 2, 3]);
    expect(ready).toEqual([1]);
    expect(mismatches.map((m) => m.slot)).toEqual([2]);
    expect(toHex(mismatches[0]!.bankHash)).toBe(toHex(ledger.bank(2)!.bankHash));
    expect(toHex(mismatches[0]!.leaderBankHash)).toBe(toHex(ledger.record(2)!.bankHash!));
    expect(pipeline.isReady(2)).toBe(false);
    expect(pipeline.isReady(3)).toBe(false);
  });

  it("the leader's own banks are adopted, not executed again, and ready when the ledger brings their slots", async () => {
    const { ledger, pipeline } = open();
    const executed: number[] = [];
    const ready: number[] = [];
    pipeline.onExecuted((e) => executed.push(e.slot));
    pipeline.onReady((s) => ready.push(s.record.slot));
    await ledger.produceSlot(1);
    const wire = ledger.transfer(faucet, alice, 9n);
    await ledger.produceSlot(2);
    // What the leader service does: it executes its slot on a bank of the pipeline's forks and hands it over.
    let parent = pipeline.forks.root;
    for (const slot of [1, 2]) {
      const own = parent.newChild(slot);
      if (slot === 2) own.executeItems([{ item: { $case: "transaction", value: wire } }]);
      own.freeze(ledger.record(slot)!.lastHash);
      pipeline.adoptBank(own);
      expect(pipeline.forks.get(slot)).toBe(own);
      parent = own;
    }
    await pipeline.start();
    await expect.poll(() => ready, { timeout: 5_000 }).toEqual([1, 2]);
    expect(executed).toEqual([]);
    expect(pipeline.newestExecutedSlot).toBe(2);
    expect(pipeline.newestExecutedBank().balance(alice)).toBe(9n);
  });
});
