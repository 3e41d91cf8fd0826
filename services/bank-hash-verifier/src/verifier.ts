import type { Bus, Replay } from "@simd23/bus";
import {
  BankHashTally,
  createGenesisBank,
  createLedgerContext,
  EnvelopeKind,
  encodeKey,
  type Genesis,
  type Halt,
  type Keypair,
  stakeTableOf,
  type TallyEvent,
  type TallyUpdate,
  toHex,
  VerdictLevel,
} from "@simd23/core";
import { bankhashverifier, control } from "@simd23/proto";
import {
  HaltWatch,
  MessageRefusals,
  openBankHashReportMessage,
  openVoteMessage,
  ProposerDirectory,
  ReplayPipeline,
  SignedPublisher,
  subjects,
} from "@simd23/runtime";
import {
  type GrpcServiceRegistration,
  grpcService,
  type HealthControl,
  type LifecycleHooks,
  type Logger,
  type ServiceMetrics,
  unary,
} from "@simd23/service-kit";
import type { Store } from "@simd23/store";

export interface VerifierSettings {
  /** Tally slots kept below the newest finalized slot, for GetSlotTally (the ledger and banks root at it). */
  readonly retainFinalizedSlots: number;
  readonly repairTimeoutMs: number;
  readonly repairBackoffMaxMs: number;
}

export interface VerifierDeps {
  readonly genesis: Genesis;
  /** The genesis verifier identity: it seals verdicts, mismatch reports and halts. */
  readonly keypair: Keypair;
  readonly bus: Bus;
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly health: HealthControl;
  readonly settings: VerifierSettings;
  readonly now?: () => number;
}

export interface VerifierRole {
  readonly services: readonly GrpcServiceRegistration[];
  readonly hooks: LifecycleHooks;
  readonly caughtUp: Promise<void>;
  status(): bankhashverifier.GetVerifierStatusResponse;
  slotTally(slot: number): bankhashverifier.GetSlotTallyResponse;
}

/**
 * The bank-hash verifier: it replays and executes every valid slot on every
 * fork itself (never voting), takes each BankHash as the reference of a
 * BankHashTally, and tallies every validator's commitments from VOTES and
 * BANKHASHES against it. It publishes what the tally decides — verdicts,
 * mismatch reports naming the minority, and the halt when more than 1/3 of
 * stake is wrong — and roots its banks and the tally as slots finalize.
 */
export async function startBankHashVerifier(deps: VerifierDeps): Promise<VerifierRole> {
  const { genesis, keypair, bus, store, logger, metrics, health, settings } = deps;
  const now = deps.now ?? Date.now;
  const stakes = stakeTableOf(genesis);
  const nameOf = (validator: Uint8Array): string =>
    genesis.validators[stakes.indexOf(validator)]?.name ?? encodeKey(validator);

  const m = {
    executedSlot: metrics.gauge({
      name: "simd23_bank_hash_verifier_executed_slot",
      help: "Newest slot the verifier executed itself.",
    }),
    verifiedSlot: metrics.gauge({
      name: "simd23_bank_hash_verifier_verified_slot",
      help: "Newest slot with a complete tally (no stake missing).",
    }),
    agreement: metrics.gauge({
      name: "simd23_bank_hash_verifier_bank_hash_agreement_ratio",
      help: "Matched stake over total stake for the newest slot with a complete tally.",
    }),
    mismatches: metrics.counter({
      name: "simd23_bank_hash_verifier_mismatches_total",
      help: "BankHash commitments that did not match, by validator.",
      labelNames: ["validator"],
    }),
    verdicts: metrics.counter({
      name: "simd23_bank_hash_verifier_verdicts_total",
      help: "Verdicts published, by level.",
      labelNames: ["level"],
    }),
    halts: metrics.counter({ name: "simd23_bank_hash_verifier_halts_total", help: "Halts published." }),
  };

  const genesisBank = createGenesisBank(genesis);
  const tally = new BankHashTally(genesis);
  tally.addReference({ slot: 0, parentSlot: 0, bankHash: genesisBank.bankHash }, now());
  const refusals = new MessageRefusals({
    counter: metrics.messagesRefused,
    logger,
    streams: ["LEDGER", "VOTES", "BANKHASHES", "CONTROL"],
  });
  const pipeline = new ReplayPipeline({
    bus,
    context: createLedgerContext(genesis),
    directory: new ProposerDirectory(store, genesis),
    rootBank: genesisBank,
    repairTimeoutMs: settings.repairTimeoutMs,
    repairBackoffMaxMs: settings.repairBackoffMaxMs,
    refusals,
    onError: (error) => logger.warn({ err: error }, "replay pipeline"),
    onMissing: (detail) => logger.debug({ detail }, "UserBlock missing"),
  });
  const publisher = new SignedPublisher(bus, keypair);
  const inFlight = new Set<Promise<unknown>>();
  const track = (promise: Promise<unknown>, what: string): void => {
    const settled = promise.catch((error: Error) => logger.error({ err: error }, `${what} failed`));
    inFlight.add(settled);
    void settled.finally(() => inFlight.delete(settled));
  };

  let halted: Halt | undefined;
  let verifiedSlot = 0;
  let finalizedSlot = 0;

  const publish = (
    kind: EnvelopeKind,
    subject: string,
    body: Uint8Array,
    msgId: string,
    what: string,
  ): void => {
    if (halted !== undefined) return;
    track(publisher.publish(kind, subject, body, { msgId }), what);
  };

  const handle = (update: TallyUpdate, slot: number): void => {
    if (!update.ok) {
      logger.warn({ slot, code: update.error.code, err: update.error.message }, "tally refused an input");
      return;
    }
    for (const event of update.events) handleEvent(event);
    // A commitment also settles the ancestors it proves: look for the newest complete tally above the last.
    for (let s = Math.max(slot, pipeline.newestExecutedSlot); s > verifiedSlot; s--) {
      const counted = tally.tally(s);
      if (counted === undefined || counted.missing !== 0n) continue;
      verifiedSlot = s;
      m.verifiedSlot.set(s);
      m.agreement.set(Number(counted.matched) / Number(counted.total));
      break;
    }
  };

  const handleEvent = (event: TallyEvent): void => {
    switch (event.kind) {
      case "verdict": {
        const verdict = event.verdict;
        const level = verdict.level === VerdictLevel.VERDICT_LEVEL_FINALIZED ? "finalized" : "executed";
        if (halted === undefined) m.verdicts.inc({ level });
        publish(
          EnvelopeKind.KIND_SLOT_VERDICT,
          subjects.verdicts,
          control.SlotVerdict.encode(verdict).finish(),
          `verdict/${verdict.slot}/${level}`,
          `${level} verdict of slot ${verdict.slot}`,
        );
        if (level === "finalized" && verdict.slot > finalizedSlot) {
          finalizedSlot = verdict.slot;
          pipeline.setRoot(verdict.slot);
          tally.pruneBelow(Math.max(0, verdict.slot - settings.retainFinalizedSlots));
        }
        return;
      }
      case "mismatch-report": {
        const report = event.report;
        const names = report.evidence.map((e) => nameOf(e.validator));
        for (const name of names) m.mismatches.inc({ validator: name });
        logger.warn(
          { slot: report.slot, validators: names, tally: report.tally },
          "BankHash mismatch reported",
        );
        publish(
          EnvelopeKind.KIND_MISMATCH_REPORT,
          subjects.mismatch,
          control.MismatchReport.encode(report).finish(),
          `mismatch/${report.slot}/${report.evidence.map((e) => toHex(e.validator).slice(0, 16)).join("-")}`,
          `mismatch report of slot ${report.slot}`,
        );
        return;
      }
      case "halt": {
        const halt = event.halt;
        const names = halt.evidence.map((e) => nameOf(e.validator));
        for (const name of names) m.mismatches.inc({ validator: name });
        m.halts.inc();
        logger.error(
          { slot: halt.slot, tally: halt.tally, validators: names, reason: halt.reason },
          "HALTING THE CLUSTER: more than 1/3 of stake committed to a wrong BankHash",
        );
        publish(
          EnvelopeKind.KIND_HALT,
          subjects.halt,
          control.Halt.encode(halt).finish(),
          `halt/${halt.slot}`,
          `halt at slot ${halt.slot}`,
        );
        onHalt(halt);
        return;
      }
    }
  };

  const onHalt = (halt: Halt): void => {
    if (halted !== undefined) return;
    halted = halt;
    health.halt(`halt at slot ${halt.slot}: ${halt.reason}`);
  };

  pipeline.onSlot(() => metrics.slot.set(pipeline.follower.newestSlot));
  pipeline.onExecuted((executed) => {
    m.executedSlot.set(pipeline.newestExecutedSlot);
    handle(
      tally.addReference(
        {
          slot: executed.slot,
          parentSlot: executed.parentSlot,
          bankHash: executed.bankHash,
          results: executed.results,
          userBlockSlots: executed.userBlockSlots,
        },
        now(),
      ),
      executed.slot,
    );
  });
  pipeline.onDeadSlot((dead) =>
    logger.warn({ slot: dead.slot, code: dead.violation.code, detail: dead.violation.detail }, "dead slot"),
  );
  // Sync mode: the verifier's own BankHash stays the reference; a leader that recorded another one is
  // worth a line, since no honest validator will vote on that slot.
  pipeline.onBankHashMismatch((mismatch) =>
    logger.warn(
      {
        slot: mismatch.slot,
        bankHash: toHex(mismatch.bankHash),
        leaderBankHash: toHex(mismatch.leaderBankHash),
      },
      "the leader's SlotEnd.bankHash is not the BankHash the verifier computed",
    ),
  );

  // Commitments from the start of both streams, so a restarted verifier tallies the same.
  const replays: Replay[] = [];
  const consume = (replay: Replay, each: (data: Uint8Array) => void, what: string): Promise<void> => {
    replays.push(replay);
    return (async () => {
      for await (const message of replay) each(message.data);
    })().catch((error: Error) => logger.error({ err: error }, `${what} consumer failed`));
  };
  const votesRunning = consume(
    bus.replay({ stream: "VOTES", filterSubjects: [subjects.allVotes], start: "all" }),
    (data) => {
      const opened = openVoteMessage(genesis, data);
      if (!opened.ok) {
        refusals.refuse("VOTES", opened.reason, opened.detail);
        return;
      }
      handle(tally.addVote(opened.vote, data, now()), opened.vote.bankHash?.slot ?? 0);
    },
    "VOTES",
  );
  const reportsRunning = consume(
    bus.replay({ stream: "BANKHASHES", filterSubjects: [subjects.allBankHashReports], start: "all" }),
    (data) => {
      const opened = openBankHashReportMessage(genesis, data);
      if (!opened.ok) {
        refusals.refuse("BANKHASHES", opened.reason, opened.detail);
        return;
      }
      handle(tally.addReport(opened.report, data, now()), opened.report.slot);
    },
    "BANKHASHES",
  );

  const haltWatch = new HaltWatch({
    bus,
    genesis,
    onHalt: (halt) => {
      logger.error({ slot: halt.slot, reason: halt.reason }, "CLUSTER HALTED: no more verdicts");
      onHalt(halt);
    },
    refusals,
  });
  haltWatch.start();

  const caughtUp = pipeline.start().then(() => {
    logger.info({ slot: pipeline.follower.newestSlot }, "ledger replayed: verifying");
    health.markReady();
  });

  const status = (): bankhashverifier.GetVerifierStatusResponse => ({
    executedSlot: pipeline.newestExecutedSlot,
    verifiedSlot,
    halted: halted !== undefined,
    halt: halted,
  });
  const slotTally = (slot: number): bankhashverifier.GetSlotTallyResponse => {
    const counted = tally.tally(slot);
    return {
      slot,
      tally: counted,
      mismatchedValidators: genesis.validators
        .map((v) => v.identity)
        .filter((identity) => tally.statusOf(slot, identity) === "mismatched"),
      known: counted !== undefined,
    };
  };

  return {
    caughtUp,
    status,
    slotTally,
    services: [
      grpcService(bankhashverifier.BankHashVerifierServiceService, {
        getSlotTally: unary((request: bankhashverifier.GetSlotTallyRequest) => slotTally(request.slot)),
        getVerifierStatus: unary(() => status()),
      }),
    ],
    hooks: {
      stopConsuming: async () => {
        for (const replay of replays) replay.stop();
        await haltWatch.stop();
        await pipeline.stop();
        await Promise.all([votesRunning, reportsRunning]);
      },
      drain: async () => {
        while (inFlight.size > 0) await Promise.all([...inFlight]);
      },
    },
  };
}
