import { randomBytes } from "node:crypto";
import { createMemoryBus } from "@simd23/bus";
import {
  buildVote,
  ConfirmationLevel,
  createTestnetGenesis,
  deriveKeypair,
  EnvelopeKind,
  ExecutionMode,
  encodeSignedVote,
  KEY_ROLES,
  keypairFromSeed,
  sha256,
  signVote,
  utf8,
  VerdictLevel,
} from "@simd23/core";
import { control } from "@simd23/proto";
import { SignedPublisher, subjects } from "@simd23/runtime";
import { SyncTestLedger } from "@simd23/runtime/testing";
import { createLogger, createServiceMetrics, type HealthControl } from "@simd23/service-kit";
import { createMemoryStore } from "@simd23/store";
import { describe, expect, it } from "vitest";
import { startVoteAggregator } from "./vote-aggregator.js";

const L = ConfirmationLevel;
const seed = sha256(utf8("simd23/aggregator-sync-spec"));
const genesis = createTestnetGenesis({
  clusterName: "aggregator-sync",
  clusterSeed: seed,
  startTimeMs: BigInt(Date.now()),
  validators: 4,
  stake: [4_000n, 3_000n, 2_000n, 1_000n],
  leaders: 1,
  proposerPool: 1,
  mode: ExecutionMode.EXECUTION_MODE_SYNC,
  timing: {
    ticksPerSlot: 8,
    hashesPerTick: 16,
    proposerHashesPerTick: 4,
    graceTicks: 1,
    maxLockoutHistory: 8,
  },
});

const health: HealthControl = {
  markReady: () => {},
  setNotServing: () => {},
  clearNotServing: () => {},
  halt: () => {},
  serving: true,
  notServingReasons: [],
};

describe("the vote aggregator in sync mode", () => {
  it("reports recorded when a TransactionEntry holds the transaction (proposed implied, same time), then optimistic, executed, finalized", async () => {
    const namespace = `agg-sync-${randomBytes(4).toString("hex")}`;
    const bus = createMemoryBus({ namespace });
    const store = createMemoryStore({ namespace });
    const shutdown = new AbortController();
    const aggregator = startVoteAggregator({
      genesis,
      bus,
      store,
      logger: createLogger({ role: "vote-aggregator", replica: 0, level: "silent" }),
      metrics: createServiceMetrics("vote-aggregator", { defaultMetrics: false }),
      health,
      shutdownSignal: shutdown.signal,
    });
    try {
      await aggregator.caughtUp;
      const ledger = new SyncTestLedger(bus, genesis, seed);
      await ledger.produceSlot(1);
      const faucet = deriveKeypair(seed, KEY_ROLES.faucet, 0);
      const transfer = ledger.transfer(faucet, keypairFromSeed(sha256(utf8("alice"))).publicKey, 10n);
      const signature = transfer.signatures[0]!;
      const beforeSlot = Date.now();
      await ledger.produceSlot(2);
      const level = async () => {
        await aggregator.settle();
        return (await aggregator.getSignatureStatuses([signature]))[0]!.levels.at(-1)?.level;
      };
      await expect.poll(level, { timeout: 5_000 }).toBe(L.CONFIRMATION_LEVEL_RECORDED);

      // Validators holding 4 + 3 of 10 vote on slot 2.
      for (const index of [0, 1]) {
        const validator = deriveKeypair(seed, KEY_ROLES.validator, index);
        const signed = signVote(
          validator,
          buildVote({
            validator: validator.publicKey,
            slot: 2,
            slotHash: ledger.state(2)!.lastHash,
            tower: { lockouts: [{ slot: 2, confirmationCount: 1 }], root: null },
            bankHash: null,
            timestampMs: Date.now(),
          }),
        );
        await new SignedPublisher(bus, validator).publish(
          EnvelopeKind.KIND_VOTE,
          subjects.vote(validator.publicKey),
          encodeSignedVote(signed),
        );
      }
      await expect.poll(level, { timeout: 5_000 }).toBe(L.CONFIRMATION_LEVEL_OPTIMISTIC);

      const verifier = new SignedPublisher(bus, deriveKeypair(seed, KEY_ROLES.verifier, 0));
      const verdict = async (level: VerdictLevel) => {
        const body = control.SlotVerdict.encode({
          slot: 2,
          level,
          tally: { matched: 10_000n, mismatched: 0n, missing: 0n, total: 10_000n },
          results: level === VerdictLevel.VERDICT_LEVEL_EXECUTED ? [...ledger.results(2)] : [],
          userBlockSlots: [],
        }).finish();
        await verifier.publish(EnvelopeKind.KIND_SLOT_VERDICT, subjects.verdicts, body);
      };
      await verdict(VerdictLevel.VERDICT_LEVEL_EXECUTED);
      await expect.poll(level, { timeout: 5_000 }).toBe(L.CONFIRMATION_LEVEL_EXECUTED);
      await verdict(VerdictLevel.VERDICT_LEVEL_FINALIZED);
      await expect.poll(level, { timeout: 5_000 }).toBe(L.CONFIRMATION_LEVEL_FINALIZED);

      const [status] = await aggregator.getSignatureStatuses([signature]);
      expect(status!.levels.map((l) => l.level)).toEqual([
        L.CONFIRMATION_LEVEL_RECEIVED,
        L.CONFIRMATION_LEVEL_PROPOSED,
        L.CONFIRMATION_LEVEL_RECORDED,
        L.CONFIRMATION_LEVEL_OPTIMISTIC,
        L.CONFIRMATION_LEVEL_EXECUTED,
        L.CONFIRMATION_LEVEL_FINALIZED,
      ]);
      // No UserBlock in sync mode: `proposed` is implied by `recorded` and carries its time (no proposer
      // wrote `received` in this test, so it is implied too).
      expect(new Set(status!.levels.slice(0, 3).map((l) => l.timeMs)).size).toBe(1);
      // `recorded` is the TransactionEntry's own stream time.
      expect(Number(status!.levels[2]!.timeMs)).toBeGreaterThanOrEqual(beforeSlot);
      expect(status!.result?.status).toBe(ledger.results(2)[0]!.status);
      expect(status!.result?.userBlockSlot).toBe(0);
    } finally {
      await aggregator.hooks.stopConsuming();
      await aggregator.hooks.drain();
      shutdown.abort();
      await bus.close();
      await store.close();
    }
  });
});
