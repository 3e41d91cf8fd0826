import { randomBytes } from "node:crypto";
import { type Bus, createMemoryBus } from "@simd23/bus";
import {
  type Bank,
  bankHashCommitment,
  createGenesisBank,
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  executeSlot,
  KEY_ROLES,
  type Keypair,
  openEnvelope,
  sha256,
  toHex,
  utf8,
} from "@simd23/core";
import { control, vote } from "@simd23/proto";
import { SignedPublisher, subjects } from "@simd23/runtime";
import { TestLedger } from "@simd23/runtime/testing";
import { createLogger, createServiceMetrics, type HealthControl } from "@simd23/service-kit";
import { createMemoryStore, type Store } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { startBankHashVerifier, type VerifierRole } from "./verifier.js";

const seed = sha256(utf8("simd23/verifier-spec"));
const genesis = createTestnetGenesis({
  clusterName: "verifier-spec",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 4,
  leaders: 1,
  proposerPool: 1,
  timing: {
    ticksPerSlot: 8,
    hashesPerTick: 64,
    proposerHashesPerTick: 4,
    graceTicks: 1,
    slotsPerLeaderWindow: 2,
  },
});
const validators: Keypair[] = [0, 1, 2, 3].map((i) => deriveKeypair(seed, KEY_ROLES.validator, i));

const health: HealthControl = {
  markReady() {},
  setNotServing() {},
  clearNotServing() {},
  halt() {},
  serving: true,
  notServingReasons: [],
};

describe("the bank-hash verifier on the in-process bus", () => {
  let bus: Bus;
  let store: Store;
  let verifier: VerifierRole | undefined;
  afterEach(async () => {
    await verifier?.hooks.stopConsuming?.();
    await verifier?.hooks.drain?.();
    await bus.close();
    await store.close();
  });

  it("checks each report against its own BankHash, reports the minority and refuses forged reports", async () => {
    const namespace = `verifier-${randomBytes(4).toString("hex")}`;
    bus = createMemoryBus({ namespace });
    store = createMemoryStore({ namespace });
    const ledger = new TestLedger(bus, genesis, seed);
    for (let slot = 1; slot <= 3; slot++) await ledger.produceSlot(slot);
    // The reference chain, computed here with the core alone.
    const banks = new Map<number, Bank>([[0, createGenesisBank(genesis)]]);
    for (let slot = 1; slot <= 3; slot++) {
      const record = ledger.record(slot)!;
      banks.set(
        slot,
        executeSlot(banks.get(record.parentSlot)!, {
          slot,
          lastPohHash: record.lastHash,
          userBlockSlots: record.userBlockSlots.map((u) => ({ userBlockSlot: u.userBlockSlot, blocks: [] })),
        }).bank,
      );
    }
    const report = (by: Keypair, about: Keypair, slot: number, bankHash: Uint8Array) =>
      new SignedPublisher(bus, by).publish(
        EnvelopeKind.KIND_BANK_HASH_REPORT,
        subjects.bankHashReport(by.publicKey),
        vote.BankHashReport.encode({
          validator: about.publicKey,
          slot,
          parentSlot: slot - 1,
          bankHashCommitment: bankHashCommitment(bankHash, about.publicKey),
          signatureCount: 0,
          transactionCount: 0,
          executionLagSlots: 0,
          executedAtMs: 0n,
        }).finish(),
      );
    const right = (slot: number) => banks.get(slot)!.bankHash;
    for (const v of validators.slice(0, 3)) await report(v, v, 3, right(3));
    await report(validators[3]!, validators[3]!, 2, sha256(utf8("not the BankHash of slot 2")));
    // Sealed by validator 0 but naming validator 3: refused, never tallied for validator 3.
    await report(validators[0]!, validators[3]!, 3, right(3));

    const metrics = createServiceMetrics("bank-hash-verifier", { defaultMetrics: false });
    verifier = await startBankHashVerifier({
      genesis,
      keypair: deriveKeypair(seed, KEY_ROLES.verifier, 0),
      bus,
      store,
      logger: createLogger({ role: "bank-hash-verifier", replica: 0, level: "silent" }),
      metrics,
      health,
      settings: { retainFinalizedSlots: 64, repairTimeoutMs: 500, repairBackoffMaxMs: 100 },
    });
    await verifier.caughtUp;
    await expect.poll(() => verifier!.status().executedSlot, { timeout: 15_000 }).toBe(3);
    const refusedReports = (await metrics.messagesRefused.get()).values.filter(
      (v) => v.labels.stream === "bankhashes" && v.value > 0,
    );
    expect(refusedReports.map((v) => [v.labels.reason, v.value])).toEqual([["wrong_signer", 1]]);
    const role = verifier;
    // Reports for slot 3 prove slots 1 and 2 through the chain; validator 3 mismatched slot 2 itself.
    await expect
      .poll(() => role.slotTally(2).tally?.mismatched, { timeout: 15_000 })
      .toBe(genesis.validators[3]!.stake);
    expect(role.slotTally(1).tally).toMatchObject({ matched: 3n * genesis.validators[0]!.stake });
    expect(role.slotTally(2).mismatchedValidators.map(toHex)).toEqual([toHex(validators[3]!.publicKey)]);
    expect(role.slotTally(3).tally?.missing).toBe(genesis.validators[3]!.stake);
    expect(role.slotTally(99).known).toBe(false);
    expect(role.status()).toMatchObject({ executedSlot: 3, verifiedSlot: 2, halted: false });

    const published = async (subject: string, kind: EnvelopeKind) => {
      const out: Uint8Array[] = [];
      const replay = bus.replay({
        stream: subject.startsWith("control") ? "CONTROL" : "BANKHASHES",
        filterSubjects: [subject],
        start: "all",
        stopAtEnd: true,
      });
      for await (const m of replay) {
        const opened = openEnvelope(genesis, m.data, kind);
        if (opened.ok) out.push(opened.envelope.body);
      }
      return out;
    };
    await expect
      .poll(async () => (await published(subjects.verdicts, EnvelopeKind.KIND_SLOT_VERDICT)).length, {
        timeout: 15_000,
      })
      .toBe(3);
    const verdicts = (await published(subjects.verdicts, EnvelopeKind.KIND_SLOT_VERDICT)).map((b) =>
      control.SlotVerdict.decode(b),
    );
    expect(verdicts.map((v) => [v.slot, v.level])).toEqual([
      [1, control.VerdictLevel.VERDICT_LEVEL_EXECUTED],
      [2, control.VerdictLevel.VERDICT_LEVEL_EXECUTED],
      [3, control.VerdictLevel.VERDICT_LEVEL_EXECUTED],
    ]);
    const mismatches = (await published(subjects.mismatch, EnvelopeKind.KIND_MISMATCH_REPORT)).map((b) =>
      control.MismatchReport.decode(b),
    );
    expect(mismatches.map((r) => [r.slot, r.evidence.map((e) => toHex(e.validator))])).toEqual([
      [2, [toHex(validators[3]!.publicKey)]],
    ]);
  });
});
