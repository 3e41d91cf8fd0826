import { randomBytes } from "node:crypto";
import { type Bus, createMemoryBus } from "@simd23/bus";
import {
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  type Genesis,
  KEY_ROLES,
  keypairFromSeed,
  openEnvelope,
  sha256,
  toHex,
  utf8,
  verifySignedVote,
} from "@simd23/core";
import { control, vote } from "@simd23/proto";
import { ProposerDirectory, SnapshotStore, subjects } from "@simd23/runtime";
import { startRepairServer, TestLedger } from "@simd23/runtime/testing";
import { startBankHashVerifier, type VerifierRole } from "@simd23/service-bank-hash-verifier";
import { createLogger, createServiceMetrics, type HealthControl } from "@simd23/service-kit";
import { createMemoryStore, type Store } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { type ExecutorFaults, type ExecutorRole, startExecutor } from "./executor.js";

const seed = sha256(utf8("simd23/executor-spec"));

function testGenesis(): Genesis {
  return createTestnetGenesis({
    clusterName: "executor-spec",
    clusterSeed: seed,
    startTimeMs: BigInt(Date.now()),
    validators: 4,
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
      maxLockoutHistory: 4,
    },
  });
}

/** Records what a role asks of its health, as the kit's health state would. */
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

interface Cluster {
  readonly genesis: Genesis;
  readonly bus: Bus;
  readonly store: Store;
  readonly ledger: TestLedger;
  readonly executors: (ExecutorRole & { health: RecordedHealth })[];
  verifier: VerifierRole & { health: RecordedHealth };
}

const open: Cluster[] = [];
const logger = createLogger({ role: "executor", replica: 0, level: "silent" });

async function startOne(
  cluster: Omit<Cluster, "executors" | "verifier">,
  i: number,
  faults: ExecutorFaults = {},
) {
  const health = new RecordedHealth();
  const role = await startExecutor({
    genesis: cluster.genesis,
    keypair: deriveKeypair(seed, KEY_ROLES.validator, i),
    bus: cluster.bus,
    store: cluster.store,
    logger,
    metrics: createServiceMetrics("executor", { defaultMetrics: false }),
    health,
    settings: { snapshotIntervalSlots: 2, repairTimeoutMs: 500, repairBackoffMaxMs: 100, faults },
  });
  return Object.assign(role, { health });
}

async function startCluster(faults: Record<number, ExecutorFaults> = {}): Promise<Cluster> {
  const genesis = testGenesis();
  const namespace = `executor-${randomBytes(4).toString("hex")}`;
  const bus = createMemoryBus({ namespace });
  const store = createMemoryStore({ namespace });
  const ledger = new TestLedger(bus, genesis, seed);
  ledger.recordVotesFromStream();
  const base = { genesis, bus, store, ledger };
  const verifierHealth = new RecordedHealth();
  const verifier = Object.assign(
    await startBankHashVerifier({
      genesis,
      keypair: deriveKeypair(seed, KEY_ROLES.verifier, 0),
      bus,
      store,
      logger,
      metrics: createServiceMetrics("bank-hash-verifier", { defaultMetrics: false }),
      health: verifierHealth,
      settings: { retainFinalizedSlots: 64, repairTimeoutMs: 500, repairBackoffMaxMs: 100 },
    }),
    { health: verifierHealth },
  );
  const executors = [];
  for (let i = 0; i < 4; i++) executors.push(await startOne(base, i, faults[i]));
  await Promise.all([verifier.caughtUp, ...executors.map((e) => e.caughtUp)]);
  const cluster = { ...base, executors, verifier };
  open.push(cluster);
  return cluster;
}

async function produce(cluster: Cluster, slots: number, pauseMs = 25): Promise<void> {
  for (let i = 0; i < slots; i++) {
    await cluster.ledger.produceSlot(cluster.ledger.newestSlot + 1);
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}

async function messages(bus: Bus, stream: "VOTES" | "BANKHASHES" | "CONTROL", filter: string) {
  const replay = bus.replay({ stream, filterSubjects: [filter], start: "all", stopAtEnd: true });
  const out = [];
  for await (const message of replay) out.push(message);
  return out;
}

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

describe("executors and the bank-hash verifier on the in-process bus and store", () => {
  it("vote on every slot, execute behind, agree on every BankHash, finalize and serve balances", async () => {
    const cluster = await startCluster();
    const { ledger, genesis } = cluster;
    const faucet = deriveKeypair(seed, KEY_ROLES.faucet, 0);
    const alice = keypairFromSeed(sha256(utf8("alice"))).publicKey;
    ledger.join(0, 1);
    await produce(cluster, 3);
    ledger.transfer(faucet, alice, 1_234n);
    ledger.transfer(faucet, alice, 766n);
    await produce(cluster, 9);

    await expect
      .poll(() => cluster.executors.map((e) => e.status().executedSlot), { timeout: 15_000 })
      .toEqual([12, 12, 12, 12]);
    for (const e of cluster.executors) {
      const status = e.status();
      expect(status.votedSlot).toBeGreaterThanOrEqual(11);
      expect(status.root).toBeGreaterThan(0);
      expect(status.missingUserBlocks).toBe(0);
      expect(e.health.ready).toBe(true);
    }
    // Every slot's tally: all four validators matched the verifier's own BankHash.
    await expect.poll(() => cluster.verifier.status().verifiedSlot, { timeout: 15_000 }).toBe(12);
    for (let slot = 1; slot <= 12; slot++) {
      const tally = cluster.verifier.slotTally(slot);
      expect(tally.known).toBe(true);
      expect([tally.tally?.matched, tally.tally?.mismatched]).toEqual([tally.tally?.total, 0n]);
    }
    const reports = await messages(cluster.bus, "BANKHASHES", subjects.allBankHashReports);
    expect(reports).toHaveLength(4 * 12);
    const verdicts = (await messages(cluster.bus, "BANKHASHES", subjects.verdicts)).map((m) => {
      const opened = openEnvelope(genesis, m.data, EnvelopeKind.KIND_SLOT_VERDICT);
      if (!opened.ok) throw opened.error;
      return control.SlotVerdict.decode(opened.envelope.body);
    });
    const executedVerdicts = verdicts.filter((v) => v.level === control.VerdictLevel.VERDICT_LEVEL_EXECUTED);
    expect(executedVerdicts.map((v) => v.slot)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(verdicts.some((v) => v.level === control.VerdictLevel.VERDICT_LEVEL_FINALIZED)).toBe(true);
    const transfers = executedVerdicts.flatMap((v) => v.results);
    expect(transfers).toHaveLength(2);
    expect(transfers.every((r) => r.status === 1)).toBe(true);
    // Votes carry the newest BankHash their validator computed on the voted fork, never a later slot's.
    const votes = (await messages(cluster.bus, "VOTES", subjects.allVotes)).map((m) => {
      const opened = openEnvelope(genesis, m.data, EnvelopeKind.KIND_VOTE);
      if (!opened.ok) throw opened.error;
      const verified = verifySignedVote(genesis, opened.envelope.body);
      if (!verified.ok) throw verified.error;
      return verified.vote;
    });
    expect(votes.length).toBeGreaterThanOrEqual(4 * 10);
    expect(votes.filter((v) => v.bankHash !== null).length).toBeGreaterThan(0);
    expect(votes.every((v) => v.bankHash === null || v.bankHash.slot <= v.vote.slot)).toBe(true);
    for (const e of cluster.executors) {
      const service = e.services[0]!.implementation as {
        getAccount: (call: unknown, callback: (error: unknown, value: unknown) => void) => void;
      };
      const account = await new Promise((resolve, reject) =>
        service.getAccount({ request: { pubkey: alice } }, (error, value) =>
          error ? reject(error) : resolve(value),
        ),
      );
      expect(account).toMatchObject({ lamports: 2_000n, exists: true, slot: 12 });
    }
    // Each executor wrote a snapshot of a rooted bank.
    for (const v of genesis.validators) {
      const snapshot = await new SnapshotStore(cluster.store).load(v.identity);
      expect(snapshot?.slot).toBeGreaterThan(0);
      expect(snapshot?.ledgerSequence).toBeGreaterThan(0);
    }
  });

  it("names a validator with a wrong BankHash in a mismatch report and marks its slots dead, without a halt", async () => {
    const cluster = await startCluster({ 2: { wrongBankHashFromSlot: 5 } });
    cluster.ledger.join(0);
    await produce(cluster, 10);
    const wrong = cluster.genesis.validators[2]!.identity;
    await expect
      .poll(() => cluster.executors[2]!.status().deadSlots.includes(5), { timeout: 15_000 })
      .toBe(true);
    const reports = (await messages(cluster.bus, "CONTROL", subjects.mismatch)).map((m) => {
      const opened = openEnvelope(cluster.genesis, m.data, EnvelopeKind.KIND_MISMATCH_REPORT);
      if (!opened.ok) throw opened.error;
      return control.MismatchReport.decode(opened.envelope.body);
    });
    expect(reports.length).toBeGreaterThan(0);
    expect(
      reports.every((r) => r.evidence.length === 1 && toHex(r.evidence[0]!.validator) === toHex(wrong)),
    ).toBe(true);
    expect(Math.min(...reports.map((r) => r.slot))).toBe(5);
    expect(cluster.verifier.slotTally(4).mismatchedValidators).toEqual([]);
    expect(cluster.verifier.slotTally(5).mismatchedValidators.map(toHex)).toEqual([toHex(wrong)]);
    expect(cluster.verifier.status().halted).toBe(false);
    expect(cluster.executors.every((e) => !e.status().halted)).toBe(true);
    // The evidence is the validator's own signed report.
    const evidence = reports[0]!.evidence[0]!;
    const opened = openEnvelope(cluster.genesis, evidence.signedMessage, EnvelopeKind.KIND_BANK_HASH_REPORT);
    expect(opened.ok && vote.BankHashReport.decode(opened.envelope.body).slot).toBe(5);
  });

  it("halts when two of four validators are wrong, and then no role produces anything", async () => {
    const cluster = await startCluster({ 1: { wrongBankHashFromSlot: 4 }, 3: { wrongBankHashFromSlot: 4 } });
    cluster.ledger.join(0);
    await produce(cluster, 6);
    await expect.poll(() => cluster.verifier.status().halted, { timeout: 15_000 }).toBe(true);
    const halt = cluster.verifier.status().halt!;
    expect(halt.slot).toBe(4);
    expect(halt.evidence.map((e) => toHex(e.validator))).toEqual(
      [1, 3].map((i) => toHex(cluster.genesis.validators[i]!.identity)),
    );
    await expect
      .poll(() => cluster.executors.every((e) => e.status().halted), { timeout: 15_000 })
      .toBe(true);
    expect(cluster.executors.every((e) => e.health.halts.length === 1)).toBe(true);
    expect(cluster.verifier.health.halts).toHaveLength(1);
    const counts = async () =>
      [
        (await messages(cluster.bus, "VOTES", subjects.allVotes)).length,
        (await messages(cluster.bus, "BANKHASHES", subjects.allBankHashReports)).length,
        (await messages(cluster.bus, "BANKHASHES", subjects.verdicts)).length,
      ].join(",");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const before = await counts();
    await produce(cluster, 4);
    expect(await counts()).toBe(before);
  });

  it("does not vote on a slot whose UserBlock is withheld until it repairs it from the proposer", async () => {
    const cluster = await startCluster({ 3: { ignoreUserBlocksFrom: ["proposer-1"] } });
    const { ledger, store, genesis } = cluster;
    let serving = false;
    const server = await startRepairServer(ledger, () => serving);
    await new ProposerDirectory(store, genesis).claim("repair-test", server.address, 60_000, 1);
    try {
      ledger.join(0, 1);
      await produce(cluster, 6);
      await expect
        .poll(() => cluster.executors[3]!.status().missingUserBlocks, { timeout: 15_000 })
        .toBeGreaterThan(0);
      const stuck = cluster.executors[3]!.status();
      // Proposer-1's first block is in slot 2 (its join takes effect there).
      expect(stuck.votedSlot).toBe(1);
      await expect
        .poll(() => cluster.executors[0]!.status().votedSlot, { timeout: 15_000 })
        .toBeGreaterThanOrEqual(5);
      expect(cluster.executors[3]!.status().votedSlot).toBe(1);
      serving = true;
      await expect.poll(() => cluster.executors[3]!.status().missingUserBlocks, { timeout: 15_000 }).toBe(0);
      await produce(cluster, 2);
      await expect
        .poll(() => cluster.executors[3]!.status().votedSlot, { timeout: 15_000 })
        .toBeGreaterThanOrEqual(7);
      expect(server.requests.length).toBeGreaterThan(0);
    } finally {
      await server.stop();
    }
  });

  it("restarts from its snapshot and its newest vote, and computes the same BankHashes again", async () => {
    const cluster = await startCluster();
    cluster.ledger.join(0);
    await produce(cluster, 10);
    const before = cluster.executors[1]!;
    await expect.poll(() => before.status().executedSlot, { timeout: 15_000 }).toBe(10);
    const rootBefore = before.status().root;
    expect(rootBefore).toBeGreaterThan(2);
    const snapshot = await new SnapshotStore(cluster.store).load(cluster.genesis.validators[1]!.identity);
    expect(snapshot?.slot).toBeGreaterThan(0);
    await before.hooks.stopConsuming?.();
    await before.hooks.drain?.();
    await produce(cluster, 3);

    const after = await startOne(cluster, 1);
    cluster.executors[1] = after;
    await after.caughtUp;
    await produce(cluster, 3);
    await expect.poll(() => after.status().executedSlot, { timeout: 15_000 }).toBe(16);
    expect(after.status().root).toBeGreaterThanOrEqual(rootBefore);
    // One report per slot: re-executed slots produced identical reports (deduplicated), none differed.
    const reports = (
      await messages(
        cluster.bus,
        "BANKHASHES",
        subjects.bankHashReport(cluster.genesis.validators[1]!.identity),
      )
    )
      .map((m) => vote.BankHashReport.decode(openEnvelopeBody(cluster.genesis, m.data)).slot)
      .sort((a, b) => a - b);
    expect(reports).toEqual([...Array(16).keys()].map((i) => i + 1));
    await expect.poll(() => cluster.verifier.status().verifiedSlot, { timeout: 15_000 }).toBe(16);
    for (let slot = 1; slot <= 16; slot++)
      expect(cluster.verifier.slotTally(slot).mismatchedValidators).toEqual([]);
  });

  it("restores its tower from its own newest vote though other messages were filed after it under its subject", async () => {
    const cluster = await startCluster();
    cluster.ledger.join(0);
    await produce(cluster, 6);
    const before = cluster.executors[1]!;
    await expect.poll(() => before.status().votedSlot, { timeout: 15_000 }).toBe(6);
    await before.hooks.stopConsuming?.();
    await before.hooks.drain?.();
    // After its newest vote: bytes that are no vote, and a vote of validator 2 (sealed by it).
    const mySubject = subjects.vote(cluster.genesis.validators[1]!.identity);
    const [othersVote] = (
      await messages(cluster.bus, "VOTES", subjects.vote(cluster.genesis.validators[2]!.identity))
    ).slice(-1);
    await cluster.bus.publish(mySubject, new Uint8Array([1, 2, 3]));
    await cluster.bus.publish(mySubject, othersVote!.data);

    const after = await startOne(cluster, 1);
    cluster.executors[1] = after;
    await after.caughtUp;
    expect(after.status().votedSlot).toBe(6);
    expect(after.status().root).toBe(before.status().root);
  });
});

function openEnvelopeBody(genesis: Genesis, data: Uint8Array): Uint8Array {
  const opened = openEnvelope(genesis, data, EnvelopeKind.KIND_BANK_HASH_REPORT);
  if (!opened.ok) throw opened.error;
  return opened.envelope.body;
}
