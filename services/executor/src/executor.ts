import type { Bus, Replay } from "@simd23/bus";
import {
  type Bank,
  bankHashCommitment,
  buildVote,
  bytesEqual,
  createGenesisBank,
  createLedgerContext,
  decideVote,
  decodeBankSnapshot,
  EnvelopeKind,
  encodeBankSnapshot,
  encodeKey,
  encodeSignedVote,
  type Genesis,
  HeaviestSubtreeForkChoice,
  type Keypair,
  recordTowerVote,
  SnapshotError,
  signVote,
  slotStartMs,
  stakeTableOf,
  type Tower,
  toHex,
  towerOfVote,
} from "@simd23/core";
import { executor, tx, vote } from "@simd23/proto";
import {
  type ExecutedSlot,
  HaltWatch,
  MessageRefusals,
  openMismatchReportMessage,
  openVoteMessage,
  ProposerDirectory,
  proposerIdentitiesHex,
  ReplayPipeline,
  SignedPublisher,
  SnapshotStore,
  subjects,
} from "@simd23/runtime";
import {
  type GrpcServiceRegistration,
  GrpcStatus,
  grpcService,
  type HealthControl,
  type LifecycleHooks,
  type Logger,
  RpcRejection,
  type ServiceMetrics,
  unary,
} from "@simd23/service-kit";
import type { Store } from "@simd23/store";

/** Testnet fault switches; every one is off unless set. */
export interface ExecutorFaults {
  /** From this slot on, the bank reports a deliberately wrong BankHash (and chains from it). */
  readonly wrongBankHashFromSlot?: number;
  /** Computes votes but never publishes them. */
  readonly withholdVotes?: boolean;
  /** Pool indices, names or hex keys of proposers whose USERBLOCKS copies are ignored: their blocks are repaired from the proposer. */
  readonly ignoreUserBlocksFrom?: readonly string[];
  /** Proposers whose USERBLOCKS copies are seen only `userBlockDelayMs` late (and never read back from the stream). */
  readonly delayUserBlocksFrom?: readonly string[];
  readonly userBlockDelayMs?: number;
}

export interface ExecutorSettings {
  /** A snapshot is written when the rooted slot is at least this many slots past the last one. */
  readonly snapshotIntervalSlots: number;
  readonly repairTimeoutMs: number;
  readonly repairBackoffMaxMs: number;
  readonly faults: ExecutorFaults;
}

export interface ExecutorDeps {
  readonly genesis: Genesis;
  /** The validator identity this replica votes as. */
  readonly keypair: Keypair;
  readonly bus: Bus;
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly health: HealthControl;
  readonly settings: ExecutorSettings;
  readonly now?: () => number;
}

export interface ExecutorRole {
  readonly services: readonly GrpcServiceRegistration[];
  readonly hooks: LifecycleHooks;
  /** Resolves once the ledger's history is replayed (the role marks itself ready then). */
  readonly caughtUp: Promise<void>;
  status(): executor.GetExecutorStatusResponse;
}

const DEAD_SLOTS_SHOWN = 64;

/**
 * One validator. It replays the LEDGER, and as soon as a slot's UserBlocks are
 * all here it runs fork choice and votes — without executing. Execution runs
 * behind in the replay pipeline; each vote carries the newest BankHash this
 * validator computed on the voted fork (as a commitment), and every executed
 * slot is reported on BANKHASHES.
 *
 * In sync mode (the baseline) a slot becomes votable only once this validator
 * executed its TransactionEntries and got the leader's SlotEnd.bankHash; a slot
 * that differs is dead here. Votes therefore carry the voted slot's own
 * BankHash and the execution lag is 0.
 */
export async function startExecutor(deps: ExecutorDeps): Promise<ExecutorRole> {
  const { genesis, keypair, bus, store, logger, metrics, health, settings } = deps;
  const now = deps.now ?? Date.now;
  const me = keypair.publicKey;
  const myHex = toHex(me);
  const context = createLedgerContext(genesis);
  const stakes = stakeTableOf(genesis);
  const timing = genesis.timing;
  const faults = settings.faults;
  const bankOptions =
    faults.wrongBankHashFromSlot === undefined
      ? {}
      : { faultyBankHashFromSlot: faults.wrongBankHashFromSlot };
  const log = logger.child({ validator: encodeKey(me) });

  const m = {
    votes: metrics.counter({ name: "simd23_executor_votes_total", help: "Votes published." }),
    voteLatency: metrics.histogram({
      name: "simd23_executor_vote_latency_seconds",
      help: "From a slot's end (its wall-clock schedule) to this validator's vote on it.",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4],
    }),
    votedSlot: metrics.gauge({ name: "simd23_executor_voted_slot", help: "Newest slot voted on." }),
    executedSlot: metrics.gauge({ name: "simd23_executor_executed_slot", help: "Newest slot executed." }),
    rootSlot: metrics.gauge({ name: "simd23_executor_root_slot", help: "The tower's root." }),
    lag: metrics.gauge({
      name: "simd23_executor_execution_lag_slots",
      help: "Newest voted slot minus newest executed slot.",
    }),
    slotExecution: metrics.histogram({
      name: "simd23_executor_slot_execution_seconds",
      help: "Time to execute one slot, signature checks included.",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    }),
    transactions: metrics.counter({
      name: "simd23_executor_transactions_executed_total",
      help: "Transactions executed, by result.",
      labelNames: ["status"],
    }),
    repairs: metrics.counter({
      name: "simd23_executor_repairs_total",
      help: "UserBlocks not received live and fetched by hash, by where they came from.",
      labelNames: ["source"],
    }),
    missing: metrics.gauge({
      name: "simd23_executor_missing_user_blocks",
      help: "UserBlocks awaited before a vote.",
    }),
    deadSlots: metrics.counter({
      name: "simd23_executor_dead_slots_total",
      help: "Slots marked dead (invalid ledger or BankHash mismatch).",
    }),
  };

  if (faults.wrongBankHashFromSlot !== undefined)
    log.warn(
      { fault: "wrong_bank_hash", fromSlot: faults.wrongBankHashFromSlot },
      "FAULT INJECTION ON: this validator computes a WRONG BankHash from this slot on",
    );
  if (faults.withholdVotes) log.warn({ fault: "withhold_votes" }, "FAULT INJECTION ON: votes are WITHHELD");
  if ((faults.ignoreUserBlocksFrom ?? []).length > 0)
    log.warn(
      { fault: "ignore_user_blocks", proposers: faults.ignoreUserBlocksFrom },
      "FAULT INJECTION ON: USERBLOCKS copies of these proposers are IGNORED (repair from the proposer)",
    );
  if ((faults.delayUserBlocksFrom ?? []).length > 0)
    log.warn(
      { fault: "delay_user_blocks", proposers: faults.delayUserBlocksFrom, delayMs: faults.userBlockDelayMs },
      "FAULT INJECTION ON: USERBLOCKS copies of these proposers are DELAYED",
    );

  // Where this validator left off: its rooted bank, and its tower as its newest vote carries it.
  const snapshots = new SnapshotStore(store);
  let rootBank: Bank = createGenesisBank(genesis, bankOptions);
  let snapshotSlot: number | undefined;
  const stored = await snapshots.load(me);
  if (stored !== undefined) {
    try {
      rootBank = decodeBankSnapshot(stored.bytes, genesis, bankOptions);
      snapshotSlot = rootBank.slot;
      log.info(
        { slot: stored.slot, ledgerSequence: stored.ledgerSequence },
        "restarting from a bank snapshot",
      );
    } catch (error) {
      if (!(error instanceof SnapshotError)) throw error;
      log.error({ err: error }, "the stored bank snapshot is unusable: replaying from genesis");
    }
  }
  let tower: Tower = { lockouts: [], root: null };
  const ownLast = await newestOwnVote(bus, genesis, me);
  if (ownLast !== undefined) {
    tower = towerOfVote(ownLast);
    log.info(
      { lastVote: ownLast.slot, root: tower.root },
      "tower restored from this validator's newest vote",
    );
  }
  const forkChoiceRoot = Math.max(tower.root ?? 0, rootBank.slot);
  const forkChoice = new HeaviestSubtreeForkChoice(stakes, forkChoiceRoot);

  const refusals = new MessageRefusals({
    counter: metrics.messagesRefused,
    logger: log,
    streams: ["LEDGER", "VOTES", "CONTROL"],
  });
  const pipeline = new ReplayPipeline({
    bus,
    context,
    directory: new ProposerDirectory(store, genesis),
    rootBank,
    ...(snapshotSlot === undefined ? {} : { trustPohThroughSlot: snapshotSlot }),
    ignoreStreamFrom: proposerIdentitiesHex(genesis, faults.ignoreUserBlocksFrom ?? []),
    delayStreamFrom: proposerIdentitiesHex(genesis, faults.delayUserBlocksFrom ?? []),
    delayStreamMs: faults.userBlockDelayMs ?? 0,
    repairTimeoutMs: settings.repairTimeoutMs,
    repairBackoffMaxMs: settings.repairBackoffMaxMs,
    refusals,
    onError: (error) => log.warn({ err: error }, "replay pipeline"),
    onMissing: (detail) => log.debug({ detail }, "UserBlock missing"),
  });

  const publisher = new SignedPublisher(bus, keypair);
  const inFlight = new Set<Promise<unknown>>();
  const track = (promise: Promise<unknown>, what: string): void => {
    const settled = promise.catch((error: Error) => log.error({ err: error }, `${what} failed`));
    inFlight.add(settled);
    void settled.finally(() => inFlight.delete(settled));
  };

  let halted = false;
  let votedSlot = tower.lockouts.at(-1)?.slot ?? 0;
  const deadByMismatch = new Set<number>();
  const deadSlots: number[] = [];
  let lastSnapshotSlot = snapshotSlot ?? 0;
  let snapshotWriting = false;

  const markDead = (slot: number, why: string, detail: Record<string, unknown>): void => {
    m.deadSlots.inc();
    deadSlots.push(slot);
    if (deadSlots.length > DEAD_SLOTS_SHOWN) deadSlots.shift();
    log.warn({ slot, ...detail }, why);
  };
  const updateLag = (): void => m.lag.set(Math.max(0, votedSlot - pipeline.newestExecutedSlot));
  const ignored = (slot: number): boolean => !pipeline.isReady(slot) || deadByMismatch.has(slot);

  let decisionQueued = false;
  const scheduleDecision = (): void => {
    if (decisionQueued) return;
    decisionQueued = true;
    queueMicrotask(() => {
      decisionQueued = false;
      decide();
    });
  };

  const decide = (): void => {
    if (halted || !pipeline.caughtUp) return;
    const decision = decideVote(forkChoice, tower, ignored);
    if (!decision.vote) return;
    const slot = decision.slot;
    const recorded = recordTowerVote(tower, slot, forkChoice.tree.ancestors(slot), timing.maxLockoutHistory);
    if (!recorded.ok) {
      log.warn({ slot, err: recorded.error.message }, "tower refused the fork choice's vote");
      return;
    }
    const record = pipeline.record(slot);
    if (record === undefined) return;
    tower = recorded.tower;
    const claim = pipeline.newestExecutedOnChain(slot);
    const signed = signVote(
      keypair,
      buildVote({
        validator: me,
        slot,
        slotHash: record.lastHash,
        tower,
        bankHash:
          claim === undefined
            ? null
            : { slot: claim.slot, commitment: bankHashCommitment(claim.bankHash, me) },
        timestampMs: now(),
      }),
    );
    forkChoice.recordVote(me, slot);
    votedSlot = slot;
    m.votedSlot.set(slot);
    updateLag();
    if (faults.withholdVotes) {
      log.debug({ slot }, "vote withheld (fault)");
    } else {
      m.votes.inc();
      m.voteLatency.observe(Math.max(0, now() - slotStartMs(timing, slot + 1)) / 1_000);
      track(
        publisher.publish(EnvelopeKind.KIND_VOTE, subjects.vote(me), encodeSignedVote(signed), {
          msgId: `vote/${myHex}/${slot}`,
        }),
        `vote on slot ${slot}`,
      );
    }
    if (recorded.newRoot !== null) root(recorded.newRoot);
  };

  const root = (slot: number): void => {
    const result = forkChoice.setRoot(slot);
    if (!result.ok) log.warn({ slot, err: result.error.message }, "fork choice refused the tower's root");
    pipeline.setRoot(slot);
    m.rootSlot.set(slot);
    for (const dead of [...deadByMismatch]) if (dead <= slot) deadByMismatch.delete(dead);
  };

  pipeline.onSlot(({ record }) => {
    metrics.slot.set(pipeline.follower.newestSlot);
    const added = forkChoice.addSlot(record.slot, record.parentSlot);
    if (!added.ok && record.slot > forkChoice.root)
      log.debug({ slot: record.slot, err: added.error.message }, "slot not added to fork choice");
    for (const entry of record.votes)
      for (const v of entry.votes) forkChoice.recordVote(v.vote.validator, v.vote.slot);
    scheduleDecision();
  });
  pipeline.onReady(() => scheduleDecision());
  pipeline.onBankHashMismatch((mismatch) =>
    markDead(mismatch.slot, "slot is dead: our BankHash is not the leader's", {
      bankHash: toHex(mismatch.bankHash),
      leaderBankHash: toHex(mismatch.leaderBankHash),
    }),
  );
  pipeline.onDeadSlot((dead) =>
    markDead(dead.slot, "slot is dead: it breaks a ledger rule", {
      code: dead.violation.code,
      detail: dead.violation.detail,
    }),
  );
  pipeline.onRepair(({ source, slot, ref }) => {
    m.repairs.inc({ source });
    log.info(
      { slot, source, userBlockSlot: ref.userBlockSlot, proposer: encodeKey(ref.proposer) },
      "UserBlock repaired",
    );
  });
  pipeline.onMissingChanged((missing) => {
    m.missing.set(missing);
    if (missing === 0) scheduleDecision();
  });
  pipeline.onExecuted((executed: ExecutedSlot) => {
    m.executedSlot.set(pipeline.newestExecutedSlot);
    m.slotExecution.observe(executed.executionSeconds);
    for (const result of executed.results) m.transactions.inc({ status: statusLabel(result.status) });
    updateLag();
    if (halted) return;
    const commitment = bankHashCommitment(executed.bankHash, me);
    const report: vote.BankHashReport = {
      validator: me,
      slot: executed.slot,
      parentSlot: executed.parentSlot,
      bankHashCommitment: commitment,
      signatureCount: executed.bank.signatureCount,
      transactionCount: executed.results.length,
      executionLagSlots: Math.max(0, votedSlot - executed.slot),
      executedAtMs: BigInt(now()),
    };
    track(
      publisher.publish(
        EnvelopeKind.KIND_BANK_HASH_REPORT,
        subjects.bankHashReport(me),
        vote.BankHashReport.encode(report).finish(),
        { msgId: `bankhash/${myHex}/${executed.slot}/${toHex(commitment).slice(0, 16)}` },
      ),
      `BankHash report of slot ${executed.slot}`,
    );
  });
  pipeline.onRooted(({ bank, sequence }) => {
    if (snapshotWriting || bank.slot - lastSnapshotSlot < settings.snapshotIntervalSlots) return;
    const bytes = encodeBankSnapshot(bank);
    const slot = bank.slot;
    snapshotWriting = true;
    track(
      snapshots
        .save(me, { bytes, slot, ledgerSequence: sequence, writtenAtMs: now() })
        .then(() => {
          lastSnapshotSlot = slot;
          log.info({ slot, bytes: bytes.length, ledgerSequence: sequence }, "bank snapshot written");
        })
        .finally(() => {
          snapshotWriting = false;
        }),
      `snapshot of slot ${slot}`,
    );
  });

  // Every validator's newest vote weighs in fork choice: the newest of each, then the live stream.
  const votesLive = bus.replay({ stream: "VOTES", filterSubjects: [subjects.allVotes], start: "new" });
  const consumeVote = (data: Uint8Array): void => {
    const opened = openVoteMessage(genesis, data);
    if (!opened.ok) {
      refusals.refuse("VOTES", opened.reason, opened.detail);
      return;
    }
    const counted = forkChoice.recordVote(opened.vote.vote.validator, opened.vote.vote.slot);
    if (counted.ok && counted.counted) scheduleDecision();
  };
  const votesRunning = (async () => {
    for await (const message of votesLive) consumeVote(message.data);
  })().catch((error: Error) => log.error({ err: error }, "VOTES consumer failed"));
  for (const validator of genesis.validators) {
    const newest = await bus.getLast("VOTES", subjects.vote(validator.identity));
    if (newest !== undefined) consumeVote(newest.data);
  }

  // The verifier names validators whose BankHash disagreed: a slot of ours it names is dead here.
  const mismatches: Replay = bus.replay({
    stream: "CONTROL",
    filterSubjects: [subjects.mismatch],
    start: "all",
  });
  const mismatchesRunning = (async () => {
    for await (const message of mismatches) {
      const opened = openMismatchReportMessage(genesis, message.data);
      if (!opened.ok) {
        refusals.refuse("CONTROL", opened.reason, opened.detail);
        continue;
      }
      const report = opened.report;
      if (!report.evidence.some((e) => toHex(e.validator) === myHex)) continue;
      if (deadByMismatch.has(report.slot) || deadSlots.includes(report.slot)) continue;
      // A slot already rooted stays in the tower; the wrong BankHash is still counted and logged.
      if (report.slot > forkChoice.root) deadByMismatch.add(report.slot);
      markDead(report.slot, "slot marked dead: the verifier reports our BankHash for it as WRONG", {
        tally: report.tally,
        rooted: report.slot <= forkChoice.root,
      });
      scheduleDecision();
    }
  })().catch((error: Error) => log.error({ err: error }, "mismatch consumer failed"));

  const haltWatch = new HaltWatch({
    bus,
    genesis,
    onHalt: (halt) => {
      halted = true;
      const names = halt.evidence.map((e) => genesis.validators[stakes.indexOf(e.validator)]?.name);
      log.error(
        { slot: halt.slot, tally: halt.tally, mismatching: names, reason: halt.reason },
        "CLUSTER HALTED: no more votes or BankHash reports",
      );
      health.halt(`halt at slot ${halt.slot}: ${halt.reason}`);
    },
    refusals,
  });
  haltWatch.start();

  const caughtUp = pipeline.start().then(() => {
    log.info(
      { slot: pipeline.follower.newestSlot, root: forkChoice.root, executed: pipeline.newestExecutedSlot },
      "ledger replayed: voting",
    );
    health.markReady();
    scheduleDecision();
  });

  const status = (): executor.GetExecutorStatusResponse => ({
    validator: me,
    votedSlot,
    executedSlot: pipeline.newestExecutedSlot,
    root: tower.root ?? 0,
    executionLagSlots: Math.max(0, votedSlot - pipeline.newestExecutedSlot),
    halted,
    deadSlots: [...new Set([...deadSlots, ...deadByMismatch])].sort((a, b) => a - b),
    missingUserBlocks: pipeline.missingUserBlocks,
  });

  return {
    caughtUp,
    status,
    services: [
      grpcService(executor.ExecutorServiceService, {
        getExecutorStatus: unary(() => status()),
        getAccount: unary((request: executor.GetAccountRequest) => {
          if (request.pubkey.length !== 32)
            throw new RpcRejection(GrpcStatus.INVALID_ARGUMENT, "MALFORMED", "pubkey is 32 bytes");
          const bank = pipeline.newestExecutedBank();
          const lamports = bank.balance(request.pubkey);
          return { pubkey: request.pubkey, lamports, exists: lamports > 0n, slot: bank.slot };
        }),
      }),
    ],
    hooks: {
      stopConsuming: async () => {
        votesLive.stop();
        mismatches.stop();
        await haltWatch.stop();
        await pipeline.stop();
        await Promise.all([votesRunning, mismatchesRunning]);
      },
      drain: async () => {
        while (inFlight.size > 0) await Promise.all([...inFlight]);
      },
    },
  };
}

/**
 * The newest vote `me` sealed. Anyone can file bytes under its subject, so the newest message
 * there may be something else — a forgery, another validator's vote — and restarting from an
 * empty tower would forget its lockouts: then every message of the subject is read for it.
 */
async function newestOwnVote(bus: Bus, genesis: Genesis, me: Uint8Array): Promise<vote.Vote | undefined> {
  const ownVote = (data: Uint8Array): vote.Vote | undefined => {
    const opened = openVoteMessage(genesis, data);
    return opened.ok && bytesEqual(opened.vote.vote.validator, me) ? opened.vote.vote : undefined;
  };
  const last = await bus.getLast("VOTES", subjects.vote(me));
  if (last === undefined) return undefined;
  const newest = ownVote(last.data);
  if (newest !== undefined) return newest;
  let found: vote.Vote | undefined;
  for await (const message of bus.replay({
    stream: "VOTES",
    filterSubjects: [subjects.vote(me)],
    start: "all",
    stopAtEnd: true,
  }))
    found = ownVote(message.data) ?? found;
  return found;
}

function statusLabel(status: tx.ExecutionStatus): string {
  return tx
    .executionStatusToJSON(status)
    .replace(/^EXECUTION_STATUS_/, "")
    .toLowerCase();
}
