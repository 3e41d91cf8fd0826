import { randomBytes } from "node:crypto";
import { type Bus, createMemoryBus } from "@simd23/bus";
import {
  bankHashCommitment,
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  ExecutionMode,
  type Genesis,
  KEY_ROLES,
  keypairFromSeed,
  openEnvelope,
  sha256,
  toHex,
  utf8,
  type VerifiedVote,
  verifySignedVote,
} from "@simd23/core";
import { control, tx } from "@simd23/proto";
import { subjects } from "@simd23/runtime";
import { SyncTestLedger } from "@simd23/runtime/testing";
import { startBankHashVerifier, type VerifierRole } from "@simd23/service-bank-hash-verifier";
import { createLogger, createServiceMetrics, type HealthControl } from "@simd23/service-kit";
import { createMemoryStore, type Store } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { type ExecutorFaults, type ExecutorRole, startExecutor } from "./executor.js";

const seed = sha256(utf8("simd23/executor-sync-spec"));
const genesis: Genesis = createTestnetGenesis({
  clusterName: "executor-sync-spec",
  clusterSeed: seed,
  startTimeMs: BigInt(Date.now()),
  validators: 4,
  leaders: 1,
  proposerPool: 1,
  mode: ExecutionMode.EXECUTION_MODE_SYNC,
  timing: {
    ticksPerSlot: 8,
    hashesPerTick: 64,
    proposerHashesPerTick: 4,
    graceTicks: 1,
    slotsPerLeaderWindow: 2,
    maxLockoutHistory: 4,
  },
});
const faucet = deriveKeypair(seed, KEY_ROLES.faucet, 0);
const alice = keypairFromSeed(sha256(utf8("alice"))).publicKey;
const logger = createLogger({ role: "executor", replica: 0, level: "silent" });

class RecordedHealth implements HealthControl {
  ready = false;
  halts: string[] = [];
  markReady(): void {
    this.ready = true;
  }
  setNotServing(): void {}
  clearNotServing(): void {}
  halt(detail: string): void {
    this.halts.push(detail);
  }
  get serving(): boolean {
    return this.ready && this.halts.length === 0;
  }
  get notServingReasons(): readonly string[] {
    return this.halts.length > 0 ? ["halted"] : [];
  }
}

interface SyncCluster {
  readonly bus: Bus;
  readonly store: Store;
  readonly ledger: SyncTestLedger;
  readonly executors: ExecutorRole[];
  readonly verifier: VerifierRole;
}

const open: SyncCluster[] = [];

afterEach(async () => {
  for (const cluster of open.splice(0)) {
    cluster.ledger.stop();
    for (const role of [...cluster.executors, cluster.verifier]) {
      await role.hooks.stopConsuming?.();
      await role.hooks.drain?.();
    }
    await cluster.bus.close();
    await cluster.store.close();
  }
});

async function startCluster(faults: Record<number, ExecutorFaults> = {}): Promise<SyncCluster> {
  const namespace = `executor-sync-${randomBytes(4).toString("hex")}`;
  const bus = createMemoryBus({ namespace });
  const store = createMemoryStore({ namespace });
  const ledger = new SyncTestLedger(bus, genesis, seed);
  ledger.recordVotesFromStream();
  const verifier = await startBankHashVerifier({
    genesis,
    keypair: deriveKeypair(seed, KEY_ROLES.verifier, 0),
    bus,
    store,
    logger,
    metrics: createServiceMetrics("bank-hash-verifier", { defaultMetrics: false }),
    health: new RecordedHealth(),
    settings: { retainFinalizedSlots: 64, repairTimeoutMs: 500, repairBackoffMaxMs: 100 },
  });
  const executors: ExecutorRole[] = [];
  for (let i = 0; i < 4; i++) {
    executors.push(
      await startExecutor({
        genesis,
        keypair: deriveKeypair(seed, KEY_ROLES.validator, i),
        bus,
        store,
        logger,
        metrics: createServiceMetrics("executor", { defaultMetrics: false }),
        health: new RecordedHealth(),
        settings: {
          snapshotIntervalSlots: 2,
          repairTimeoutMs: 500,
          repairBackoffMaxMs: 100,
          faults: faults[i] ?? {},
        },
      }),
    );
  }
  await Promise.all([verifier.caughtUp, ...executors.map((e) => e.caughtUp)]);
  const cluster = { bus, store, ledger, executors, verifier };
  open.push(cluster);
  return cluster;
}

async function produce(cluster: SyncCluster, slots: number, options: { wrongBankHashAt?: number } = {}) {
  for (let i = 0; i < slots; i++) {
    const slot = cluster.ledger.newestSlot + 1;
    await cluster.ledger.produceSlot(slot, slot - 1, { wrongBankHash: slot === options.wrongBankHashAt });
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function stored(bus: Bus, stream: "VOTES" | "BANKHASHES", filter: string) {
  const replay = bus.replay({ stream, filterSubjects: [filter], start: "all", stopAtEnd: true });
  const out = [];
  for await (const message of replay) out.push(message);
  return out;
}

async function votesOn(bus: Bus): Promise<VerifiedVote[]> {
  return (await stored(bus, "VOTES", subjects.allVotes)).map((m) => {
    const opened = openEnvelope(genesis, m.data, EnvelopeKind.KIND_VOTE);
    if (!opened.ok) throw opened.error;
    const verified = verifySignedVote(genesis, opened.envelope.body);
    if (!verified.ok) throw verified.error;
    return verified.vote;
  });
}

describe("executors and the verifier in sync mode, on the in-process bus and store", () => {
  it("execute each slot before voting on it, vote with the slot's own BankHash, and the verifier finalizes it", async () => {
    const cluster = await startCluster();
    await produce(cluster, 2);
    cluster.ledger.transfer(faucet, alice, 1_234n);
    cluster.ledger.transfer(faucet, alice, 766n);
    await produce(cluster, 8);

    await expect
      .poll(() => cluster.executors.map((e) => e.status().votedSlot), { timeout: 15_000 })
      .toEqual([10, 10, 10, 10]);
    for (const e of cluster.executors) {
      expect(e.status().executionLagSlots).toBe(0);
      expect(e.status().executedSlot).toBe(10);
      expect(e.status().deadSlots).toEqual([]);
    }
    // Every vote commits to the BankHash of the slot it votes on — the leader's SlotEnd.bankHash.
    const votes = await votesOn(cluster.bus);
    expect(votes.length).toBeGreaterThanOrEqual(4 * 10);
    for (const v of votes) {
      expect(v.bankHash?.slot).toBe(v.vote.slot);
      const leaderBankHash = cluster.ledger.record(v.vote.slot)!.bankHash!;
      expect(toHex(v.bankHash!.commitment)).toBe(toHex(bankHashCommitment(leaderBankHash, v.vote.validator)));
    }
    await expect.poll(() => cluster.verifier.status().verifiedSlot, { timeout: 15_000 }).toBe(10);
    const verdicts = (await stored(cluster.bus, "BANKHASHES", subjects.verdicts)).map((m) => {
      const opened = openEnvelope(genesis, m.data, EnvelopeKind.KIND_SLOT_VERDICT);
      if (!opened.ok) throw opened.error;
      return control.SlotVerdict.decode(opened.envelope.body);
    });
    const executed = verdicts.filter((v) => v.level === control.VerdictLevel.VERDICT_LEVEL_EXECUTED);
    expect(executed.map((v) => v.slot)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(executed[2]!.results.map((r) => [r.status, r.slot, r.userBlockSlot])).toEqual([
      [tx.ExecutionStatus.EXECUTION_STATUS_OK, 3, 0],
      [tx.ExecutionStatus.EXECUTION_STATUS_OK, 3, 0],
    ]);
    expect(verdicts.some((v) => v.level === control.VerdictLevel.VERDICT_LEVEL_FINALIZED)).toBe(true);
  });

  it("a validator with the wrong-BankHash fault marks those slots dead and never votes on them; the others go on", async () => {
    const cluster = await startCluster({ 2: { wrongBankHashFromSlot: 4 } });
    await produce(cluster, 8);
    const faulty = cluster.executors[2]!;
    await expect.poll(() => faulty.status().deadSlots, { timeout: 15_000 }).toEqual([4, 5, 6, 7, 8]);
    await expect
      .poll(() => cluster.executors.map((e) => e.status().votedSlot), { timeout: 15_000 })
      .toEqual([8, 8, 3, 8]);
    const wrong = toHex(genesis.validators[2]!.identity);
    const faultyVotes = (await votesOn(cluster.bus)).filter((v) => toHex(v.vote.validator) === wrong);
    expect(Math.max(...faultyVotes.map((v) => v.vote.slot))).toBe(3);
    // The verifier names it: its BankHash reports for those slots do not match.
    await expect
      .poll(() => cluster.verifier.slotTally(4).mismatchedValidators.map(toHex), { timeout: 15_000 })
      .toEqual([wrong]);
    expect(cluster.verifier.status().halted).toBe(false);
  });

  it("no validator votes on a slot whose leader recorded a wrong BankHash, nor on its children", async () => {
    const cluster = await startCluster();
    await produce(cluster, 6, { wrongBankHashAt: 4 });
    await expect
      .poll(() => cluster.executors.map((e) => e.status().deadSlots), { timeout: 15_000 })
      .toEqual([[4], [4], [4], [4]]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cluster.executors.map((e) => e.status().votedSlot)).toEqual([3, 3, 3, 3]);
    expect((await votesOn(cluster.bus)).every((v) => v.vote.slot < 4)).toBe(true);
  });
});
