import { performance } from "node:perf_hooks";
import type { Bus, Replay, ReplayOptions, StoredMessage } from "@simd23/bus";
import {
  type Bank,
  bytesEqual,
  type ChainState,
  createGenesisBank,
  createLedgerContext,
  decodeTransactionItem,
  EnvelopeKind,
  type EquivocationEvidence,
  ExecutionMode,
  encodeKey,
  type Genesis,
  type Keypair,
  type LedgerContext,
  openEnvelope,
  pohImplementation,
  RecordingBook,
  SlotBuilder,
  type SlotRecord,
  SlotViolationError,
  slotAt,
  slotStartMs,
  stakeTableOf,
  tickDurationMs,
  toHex,
  userBlockSlotOfTickHeight,
  verifyTransactionSignatures,
  type WellFormedUserBlock,
} from "@simd23/core";
import { control, envelope, type leader, ledger, tx, userblock } from "@simd23/proto";
import {
  HaltWatch,
  LedgerFollower,
  MessageRefusals,
  openIntakeItemOffLoop,
  openVoteMessage,
  ProposerDirectory,
  ReplayPipeline,
  SignedPublisher,
  subjects,
  verifyTransactionOffLoop,
} from "@simd23/runtime";
import {
  GrpcStatus,
  type HealthControl,
  type LifecycleHooks,
  type Logger,
  RpcRejection,
  type ServiceMetrics,
  unary,
} from "@simd23/service-kit";
import type { Store } from "@simd23/store";
import { type Clock, sleepUntil, systemClock, yieldToEventLoop } from "./clock.js";
import { equivocationId, storeEquivocationEvidence, toEvidenceMessage } from "./evidence.js";
import { type FedItem, FeedPool, fedItemOf } from "./private/feed-pool.js";
import { MembershipQueue, type QueuedRequest } from "./private/membership-queue.js";
import {
  createLeaderMetrics,
  type EntryType,
  type LeaderMetrics,
  type RefusalReason,
} from "./private/metrics.js";
import { Outbox } from "./private/outbox.js";
import { SupermajorityRoot } from "./private/supermajority-root.js";
import { SyncSlotExecution } from "./private/sync-slot.js";
import {
  decideParent,
  nextLeaderSlot,
  type ParentReason,
  recordingSlotOf,
  scheduledTickHeight,
  tickDueMs,
} from "./private/timing.js";
import { VoteBox } from "./private/vote-box.js";

/** Hash counts from which the PoH hashes off the event loop (about a millisecond of native hashing). */
const OFF_THREAD_HASHES = 20_000;
/** Own chain states and entry activity are kept this many slots back. */
const KEPT_SLOTS = 64;
/** Blocks kept while the PoH catches up (32.3): a bound, so a flood cannot grow it without limit. */
const MAX_DEFERRED_BLOCKS = 4_096;
/** Sync mode: every accepted item is stored on these INTAKE subjects, which are the leaders' feed. */
const FEED_SUBJECTS = "intake.>";
/** Sync mode: a TransactionEntry's items stay this far below a UserBlock's byte limit (the LEDGER envelope's room). */
const ENTRY_BYTES_MARGIN = 1_024;
/** Sync mode: items executed between two looks at the clock. */
const EXECUTION_CHUNK_ITEMS = 128;
/** Sync mode: at start, how long the leader waits for its banks to catch up with the replayed ledger. */
const CATCH_UP_LIMIT_MS = 60_000;

/** A USERBLOCKS message opened, before the recording book judged it. */
interface ArrivedBlock {
  readonly body: Uint8Array;
  readonly userBlockSlot: number;
  readonly proposer: Uint8Array;
}

export interface LeaderSettings {
  /**
   * How long after its slot begins the leader waits for the previous slot's end
   * before it builds on the newest slot it has (skipping the previous one).
   */
  readonly parentWaitMs: number;
  /** Produced slots kept in memory for GetSlot. */
  readonly retainedSlots: number;
}

/** Defaults: wait an eighth of a slot (50 ms of 400) for the previous leader; keep 256 slots for repair. */
export function leaderSettings(genesis: Genesis, overrides: Partial<LeaderSettings> = {}): LeaderSettings {
  return {
    parentWaitMs: overrides.parentWaitMs ?? Math.round(genesis.timing.slotDurationMs / 8),
    retainedSlots: overrides.retainedSlots ?? 256,
  };
}

export interface LeaderDependencies {
  readonly genesis: Genesis;
  /** The validator this replica leads for (leaderKeypair). */
  readonly keypair: Keypair;
  readonly bus: Bus;
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly health: HealthControl;
  readonly settings?: Partial<LeaderSettings>;
  readonly clock?: Clock;
}

/** What the leader did in one slot it produced. */
export interface ProducedSlot {
  readonly slot: number;
  readonly parentSlot: number;
  /** Why that parent (decideParent). */
  readonly parentReason: ParentReason;
  readonly entryCount: number;
  readonly skippedSlots: number;
  readonly userBlockEntries: number;
  readonly votes: number;
  readonly membershipEntries: number;
  /** Sync mode: items the leader executed and recorded in TransactionEntries (0 in async mode). */
  readonly transactionItems: number;
  /** PoH hashes of the slot, skipped ticks included. */
  readonly hashes: number;
  /** Hashes per second of time spent hashing: the PoH's speed, against the genesis rate it has to keep. */
  readonly hashesPerSecond: number;
  /** The latest of the slot's own ticks against its schedule. */
  readonly maxTickDriftMs: number;
  readonly meanTickDriftMs: number;
}

export interface Leader {
  readonly identity: Uint8Array;
  /** leader.v1.LeaderService. */
  readonly implementation: leader.LeaderServiceServer;
  readonly hooks: Required<LifecycleHooks>;
  status(): leader.GetLeaderStatusResponse;
  /** Every message of a slot this replica produced (so far, while it is producing it). */
  slotMessages(slot: number): readonly ledger.LedgerMessage[] | undefined;
  onSlotProduced(listener: (slot: ProducedSlot) => void): void;
}

/**
 * Starts the leader for one validator: replays the LEDGER (resolving once the
 * history is replayed), then follows it, takes votes, UserBlocks and membership
 * requests off the bus, and produces the slots the leader schedule gives this
 * validator in real time.
 *
 * In sync mode (the baseline) it also keeps a bank for every slot of its
 * chains (the replay pipeline executes the slots it did not produce), reads
 * the proposers' feed (INTAKE), and during its slots executes what arrived —
 * best fee rate first, at every tick — records the items that paid a fee as
 * TransactionEntries and ends each slot with its BankHash.
 */
export async function startLeader(deps: LeaderDependencies): Promise<Leader> {
  const role = new LeaderRole(deps);
  await role.start();
  return role.api();
}

interface SlotRun {
  readonly builder: SlotBuilder;
  readonly parentReason: ParentReason;
  readonly messages: ledger.LedgerMessage[];
  /** UserBlocks taken from the book and not yet recorded (records wait for room before the tick). */
  readonly toRecord: WellFormedUserBlock[];
  /** Each validator's newest vote slot on this slot's chain (hex → slot), this slot's votes included. */
  readonly votesOnChain: Map<string, number>;
  hashes: number;
  hashMs: number;
  /** Sync mode: the slot's bank and what it executed. */
  readonly execution: SyncSlotExecution | undefined;
  /** The newest entry's hash (after the last tick: the slot's last PoH hash, what its bank freezes with). */
  lastHash: Uint8Array;
  userBlockEntries: number;
  votes: number;
  membershipEntries: number;
  driftSumMs: number;
  driftCount: number;
  maxDriftMs: number;
}

class LeaderRole {
  private readonly genesis: Genesis;
  private readonly context: LedgerContext;
  private readonly identity: Uint8Array;
  private readonly logger: Logger;
  private readonly health: HealthControl;
  private readonly clock: Clock;
  private readonly settings: LeaderSettings;
  private readonly m: LeaderMetrics;
  private readonly refusals: MessageRefusals;
  private readonly follower: LedgerFollower;
  private readonly haltWatch: HaltWatch;
  private readonly book: RecordingBook;
  private readonly votes = new VoteBox();
  private readonly membership = new MembershipQueue();
  private readonly outbox: Outbox;
  private readonly startedAtMs: number;
  /** The slots this replica produced: it builds on them before the follower replays them. */
  private readonly own = new Map<number, SlotRecord>();
  private readonly produced = new Map<number, ledger.LedgerMessage[]>();
  /** Slots whose entries arrived (their leader was producing them). */
  private readonly active = new Set<number>();
  private readonly ledgerWaiters = new Set<() => void>();
  private readonly producedListeners: ((slot: ProducedSlot) => void)[] = [];
  private readonly equivocations = new Set<string>();
  private readonly deferred: ArrivedBlock[] = [];
  private readonly replays: Replay[] = [];
  private readonly intake: Promise<void>[] = [];
  /** Aborts on shutdown: no new slot starts (the one in progress finishes). */
  private readonly stopping = new AbortController();
  /** Aborts on a halt: production stops at once. */
  private readonly halting = new AbortController();
  private haltSeen: control.Halt | undefined;
  private current: SlotRun | undefined;
  /** Own slot whose start has passed while the leader waits for its parent (PoH not yet running). */
  private upcoming: number | undefined;
  private running: Promise<void> = Promise.resolve();
  private newestSeen = 0;
  private lastProduced = 0;
  private lastReport: ProducedSlot | undefined;
  /** Sync mode: the banks of every chain (its follower is the leader's). */
  private readonly pipeline: ReplayPipeline | undefined;
  /** Sync mode: what the proposers fed and this leader has not seen done. */
  private readonly feed = new FeedPool();
  /** Sync mode: each fed transaction's signature check (by wire object), done on arrival off the event loop. */
  private readonly verified = new WeakMap<tx.Transaction, boolean>();
  private readonly towerRoots: SupermajorityRoot;
  /** Sync mode: the keys of the items each slot (any fork) recorded, until the slot is rooted. */
  private readonly keysOfSlot = new Map<number, readonly string[]>();
  /** Sync mode: slots whose BankHash this leader computed differently: never built on. */
  private readonly mismatched = new Set<number>();
  private feedExpiredBeforeMs = 0;

  constructor(private readonly deps: LeaderDependencies) {
    this.genesis = deps.genesis;
    this.context = createLedgerContext(deps.genesis);
    this.identity = deps.keypair.publicKey;
    this.logger = deps.logger;
    this.health = deps.health;
    this.clock = deps.clock ?? systemClock();
    this.settings = leaderSettings(deps.genesis, deps.settings);
    this.m = createLeaderMetrics(deps.metrics);
    this.startedAtMs = this.clock.now();
    this.book = new RecordingBook(deps.genesis);
    this.outbox = new Outbox(new SignedPublisher(deps.bus, deps.keypair), this.clock, deps.logger);
    this.towerRoots = new SupermajorityRoot(stakeTableOf(deps.genesis));
    const sync = deps.genesis.mode === ExecutionMode.EXECUTION_MODE_SYNC;
    this.refusals = new MessageRefusals({
      counter: deps.metrics.messagesRefused,
      logger: deps.logger,
      streams: ["LEDGER", "VOTES", "CONTROL", sync ? "INTAKE" : "USERBLOCKS"],
    });
    if (sync) {
      this.pipeline = new ReplayPipeline({
        bus: deps.bus,
        context: this.context,
        directory: new ProposerDirectory(deps.store, deps.genesis),
        rootBank: createGenesisBank(deps.genesis),
        refusals: this.refusals,
        onError: (error) => this.logger.warn({ err: error }, "ledger replay"),
      });
      this.follower = this.pipeline.follower;
    } else {
      this.follower = new LedgerFollower({
        bus: deps.bus,
        context: this.context,
        refusals: this.refusals,
        onError: (error) => this.logger.warn({ err: error }, "ledger follower"),
      });
    }
    this.haltWatch = new HaltWatch({
      bus: deps.bus,
      genesis: deps.genesis,
      onHalt: (halt) => this.onHalt(halt),
      refusals: this.refusals,
    });
  }

  async start(): Promise<void> {
    const poh = pohImplementation();
    const { timing } = this.genesis;
    this.logger.info(
      {
        identity: encodeKey(this.identity),
        poh: poh.implementation,
        hashesPerSecondRequired: Math.round(
          (timing.hashesPerTick * timing.ticksPerSlot * 1000) / timing.slotDurationMs,
        ),
        settings: this.settings,
      },
      "leader starting",
    );
    if (poh.fallbackReason !== null)
      this.logger.warn({ reason: poh.fallbackReason }, "PoH runs without the native SHA-NI kernel");
    this.follower.onSlot(({ record }) => {
      this.noteSlot(record.slot);
      if (this.pipeline !== undefined) this.followSyncSlot(record);
      this.wakeLedgerWaiters();
    });
    this.pipeline?.onReady(() => this.wakeLedgerWaiters());
    this.pipeline?.onBankHashMismatch((mismatch) => {
      this.mismatched.add(mismatch.slot);
      this.logger.warn(
        {
          slot: mismatch.slot,
          bankHash: toHex(mismatch.bankHash),
          leaderBankHash: toHex(mismatch.leaderBankHash),
        },
        "a slot's BankHash is not the one its leader recorded: it is dead here and never built on",
      );
      this.wakeLedgerWaiters();
    });
    this.follower.onDeadSlot((dead) => {
      this.logger.warn(
        {
          slot: dead.slot,
          parentSlot: dead.parentSlot,
          leader: encodeKey(dead.leader),
          violation: dead.violation,
        },
        "dead slot on the ledger",
      );
      this.wakeLedgerWaiters();
    });
    this.follower.onEntry(({ entry }) => {
      if (this.active.has(entry.slot)) return;
      this.active.add(entry.slot);
      for (const slot of this.active) if (slot < entry.slot - KEPT_SLOTS) this.active.delete(slot);
    });
    this.haltWatch.start();
    try {
      await (this.pipeline?.start() ?? this.follower.start());
    } catch (error) {
      await this.haltWatch.stop();
      throw error;
    }
    this.noteSlot(this.follower.newestSlot);
    this.logger.info({ newestSlot: this.follower.newestSlot }, "ledger replayed");
    if (this.pipeline !== undefined) await this.catchUpBanks(this.pipeline);
    if (this.stopping.signal.aborted) return;
    this.startIntake();
    if (this.haltSeen === undefined) this.health.markReady();
    this.running = this.run().catch((error: unknown) => {
      this.logger.error({ err: error }, "the leader stopped producing after an error");
      this.health.setNotServing("producer_failed", (error as Error).message);
    });
  }

  api(): Leader {
    return {
      identity: this.identity,
      implementation: {
        getLeaderStatus: unary(() => this.status()),
        getSlot: unary((request: leader.GetSlotRequest) => {
          const messages = this.produced.get(request.slot);
          if (messages === undefined) {
            throw new RpcRejection(
              GrpcStatus.NOT_FOUND,
              "SLOT_NOT_FOUND",
              `this leader did not produce slot ${request.slot}, or no longer keeps it (it keeps ${this.settings.retainedSlots})`,
            );
          }
          return { messages: [...messages] };
        }),
      },
      hooks: {
        stopConsuming: () => this.stopConsuming(),
        drain: () => this.drain(),
      },
      status: () => this.status(),
      slotMessages: (slot) => this.produced.get(slot),
      onSlotProduced: (listener) => {
        this.producedListeners.push(listener);
      },
    };
  }

  status(): leader.GetLeaderStatusResponse {
    return {
      identity: this.identity,
      slot: this.newestSeen,
      leading: this.current !== undefined,
      hashesPerSecond: BigInt(Math.round(this.lastReport?.hashesPerSecond ?? 0)),
      tickDriftMs: this.lastReport?.maxTickDriftMs ?? 0,
      halted: this.haltSeen !== undefined,
      lastProducedSlot: this.lastProduced,
    };
  }

  private async stopConsuming(): Promise<void> {
    this.stopping.abort();
    for (const replay of this.replays) replay.stop();
    await Promise.all([...this.intake, this.haltWatch.stop(), this.pipeline?.stop() ?? this.follower.stop()]);
  }

  private async drain(): Promise<void> {
    await this.running;
    await this.outbox.flush();
  }

  // --- production -------------------------------------------------------------------------

  private get finished(): boolean {
    return this.stopping.signal.aborted || this.haltSeen !== undefined;
  }

  private async run(): Promise<void> {
    const { timing } = this.genesis;
    const horizon = 2 * timing.slotsPerEpoch;
    let from = slotAt(timing, this.clock.now());
    while (!this.finished) {
      const slot = nextLeaderSlot(this.context.leaders, this.identity, from, timing, horizon);
      if (slot === undefined) {
        from += horizon;
        await sleepUntil(this.clock, slotStartMs(timing, from), this.stopping.signal);
        continue;
      }
      from = slot + 1;
      const publishedBefore = this.publishedBefore(slot);
      await sleepUntil(this.clock, slotStartMs(timing, slot), this.stopping.signal);
      if (this.finished) break;
      if (this.clock.now() >= slotStartMs(timing, slot + 1)) {
        this.logger.warn({ slot }, "own slot missed: it was over before the leader could start it");
        continue;
      }
      if (await publishedBefore) {
        this.logger.warn(
          { slot },
          "own slot already has messages on LEDGER (from an earlier run of this replica): not producing it again",
        );
        continue;
      }
      this.upcoming = slot;
      const parent = await this.chooseParent(slot);
      this.upcoming = undefined;
      if (parent === undefined) continue;
      await this.produce(slot, parent.state, parent.reason);
    }
  }

  /**
   * Whether the LEDGER already holds messages of `slot` that this replica's key
   * sealed: only an earlier run of this replica can have published them, and
   * only for a slot that began before this run did (within a slot, for clock
   * skew between hosts). Anyone can file bytes under the subject: a message
   * sealed by another key must not cost the leader its slot, nor one filed
   * after its own hide them.
   */
  private async publishedBefore(slot: number): Promise<boolean> {
    const { timing } = this.genesis;
    if (slotStartMs(timing, slot) > this.startedAtMs + timing.slotDurationMs) return false;
    try {
      const filed = this.deps.bus.replay({
        stream: "LEDGER",
        filterSubjects: [subjects.ledgerSlot(slot)],
        start: "all",
        stopAtEnd: true,
      });
      for await (const message of filed) {
        const opened = openEnvelope(this.genesis, message.data, EnvelopeKind.KIND_LEDGER);
        if (opened.ok && bytesEqual(opened.envelope.signer, this.identity)) {
          filed.stop();
          return true;
        }
      }
      return false;
    } catch (error) {
      this.logger.warn({ err: error, slot }, "could not check the LEDGER for an earlier run's slot");
      return false;
    }
  }

  /**
   * The newest slot before `slot` whose chain state this replica has — one it
   * produced, or one the follower replayed — by slot number, across forks.
   */
  private newestKnownBefore(slot: number): ChainState | undefined {
    if (this.pipeline !== undefined) return this.newestWithBankBefore(this.pipeline, slot);
    const followed = this.follower.newestSlot;
    let best = followed < slot ? followed : 0;
    for (const produced of this.own.keys()) if (produced < slot && produced > best) best = produced;
    if (followed >= slot) {
      for (let candidate = slot - 1; candidate > best; candidate--) {
        if (this.follower.state(candidate) !== undefined) {
          best = candidate;
          break;
        }
      }
    }
    return this.own.get(best)?.next ?? this.follower.state(best);
  }

  private async chooseParent(
    slot: number,
  ): Promise<{ readonly state: ChainState; readonly reason: ParentReason } | undefined> {
    const waitUntilMs = slotStartMs(this.genesis.timing, slot) + this.settings.parentWaitMs;
    const previous = slot - 1;
    const previousIsOwn = previous >= 1 && bytesEqual(this.context.leaders.leaderOf(previous), this.identity);
    for (;;) {
      const newest = this.newestKnownBefore(slot);
      if (newest === undefined) {
        this.logger.error({ slot }, "no chain state before the slot is kept: not producing it");
        return undefined;
      }
      const decision = decideParent({
        slot,
        newestKnown: newest.slot,
        previousIsOwn,
        previousActive: this.active.has(previous),
        previousDead: this.follower.isDead(previous) || this.mismatched.has(previous),
        nowMs: this.clock.now(),
        waitUntilMs,
      });
      if (decision.action === "build") return { state: newest, reason: decision.reason };
      await this.waitForLedger(decision.untilMs);
      if (this.finished) return undefined;
    }
  }

  /** Sleeps until `untilMs` or the next slot the follower completes or finds dead, whichever is first. */
  private async waitForLedger(untilMs: number): Promise<void> {
    const woken = new AbortController();
    const wake = () => woken.abort();
    this.ledgerWaiters.add(wake);
    try {
      await sleepUntil(
        this.clock,
        untilMs,
        AbortSignal.any([woken.signal, this.stopping.signal, this.halting.signal]),
      );
    } finally {
      this.ledgerWaiters.delete(wake);
    }
  }

  private wakeLedgerWaiters(): void {
    for (const wake of this.ledgerWaiters) wake();
  }

  private async produce(slot: number, parent: ChainState, parentReason: ParentReason): Promise<void> {
    const { timing } = this.genesis;
    let builder: SlotBuilder;
    try {
      builder = new SlotBuilder(this.context, parent, slot, this.identity);
    } catch (error) {
      this.logger.error({ err: error, slot, parentSlot: parent.slot }, "cannot build the slot");
      return;
    }
    let execution: SyncSlotExecution | undefined;
    if (this.pipeline !== undefined) {
      const parentBank = this.pipeline.forks.get(parent.slot);
      if (parentBank === undefined || !parentBank.isFrozen) {
        this.logger.error(
          { slot, parentSlot: parent.slot },
          "no bank of the parent slot: not producing the slot",
        );
        return;
      }
      execution = this.startSyncSlot(parentBank, slot);
    }
    const run: SlotRun = {
      builder,
      parentReason,
      messages: [],
      toRecord: [],
      votesOnChain: this.votesOnChain(parent.slot, slot - KEPT_SLOTS),
      hashes: 0,
      hashMs: 0,
      execution,
      lastHash: parent.lastHash,
      userBlockEntries: 0,
      votes: 0,
      membershipEntries: 0,
      driftSumMs: 0,
      driftCount: 0,
      maxDriftMs: 0,
    };
    this.retainMessages(slot, run.messages);
    this.current = run;
    this.m.leading.set(1);
    const skippedSlots = slot - parent.slot - 1;
    try {
      this.emit(run, { kind: { $case: "start", value: builder.start } }, `ledger/${slot}/start`);
      this.expireMembershipRequests(slot);
      this.votes.forgetBefore(slot - KEPT_SLOTS);
      if (skippedSlots > 0) this.m.slotsSkipped.inc(skippedSlots);
      // The skipped slots' ticks are in the past: hashed at full speed, not on the schedule.
      for (let skipped = 0; skipped < skippedSlots * timing.ticksPerSlot; skipped++) {
        if (this.haltSeen !== undefined) {
          this.abandon(run);
          return;
        }
        this.emitEntry(run, await this.tick(run), "tick");
        await yieldToEventLoop();
      }
      this.recordUserBlocks(run);
      while (!builder.complete) {
        const dueMs = tickDueMs(timing, builder.tickHeight + 1);
        await sleepUntil(this.clock, dueMs, this.halting.signal);
        if (this.haltSeen !== undefined) {
          this.abandon(run);
          return;
        }
        this.recordMembership(run);
        this.recordVotes(run);
        if (!this.recordTransactions(run)) return;
        const tick = await this.tick(run);
        const driftMs = Math.max(0, this.clock.now() - dueMs);
        this.m.tickDrift.observe(driftMs / 1000);
        run.driftSumMs += driftMs;
        run.driftCount++;
        run.maxDriftMs = Math.max(run.maxDriftMs, driftMs);
        this.emitEntry(run, tick, "tick");
        this.recordUserBlocks(run);
      }
      const bankHash = run.execution?.bank.freeze(run.lastHash);
      const { end, record } = builder.end(bankHash);
      if (run.execution !== undefined) this.pipeline?.adoptBank(run.execution.bank);
      this.emit(run, { kind: { $case: "end", value: end } }, `ledger/${slot}/end`);
      if (run.toRecord.length > 0) {
        this.logger.warn(
          { slot, blocks: run.toRecord.length },
          "UserBlocks taken for recording found no room before the slot's last tick",
        );
      }
      this.own.set(slot, record);
      for (const kept of this.own.keys()) if (kept < slot - KEPT_SLOTS) this.own.delete(kept);
      this.lastProduced = slot;
      this.noteSlot(slot);
      this.m.slotsProduced.inc();
      this.report(run, skippedSlots, record.entryCount);
    } finally {
      this.current = undefined;
      this.m.leading.set(0);
      if (this.pipeline !== undefined) this.applyRoot(this.pipeline);
    }
  }

  /**
   * The newest vote slot of each validator (hex) recorded on the chain ending at
   * `parentSlot`, looking back to slot `from`: what a child of it need not record again.
   */
  private votesOnChain(parentSlot: number, from: number): Map<string, number> {
    const newest = new Map<string, number>();
    for (let slot = parentSlot; slot > 0 && slot >= from; ) {
      const record = this.own.get(slot) ?? this.follower.record(slot);
      if (record === undefined) break;
      for (const entry of record.votes) {
        for (const vote of entry.votes) {
          const id = toHex(vote.vote.validator);
          if ((newest.get(id) ?? -1) < vote.vote.slot) newest.set(id, vote.vote.slot);
        }
      }
      slot = record.parentSlot;
    }
    return newest;
  }

  /** Hashes up to the tick (off the event loop when that is many hashes) and completes it. */
  private async tick(run: SlotRun): Promise<ledger.SlotEntry> {
    const { builder } = run;
    const startedAt = performance.now();
    const hashes = builder.hashesUntilTick;
    if (hashes >= OFF_THREAD_HASHES) await builder.hashAsync(hashes);
    else builder.hash(hashes);
    const entry = builder.tick();
    run.hashMs += performance.now() - startedAt;
    return entry;
  }

  private abandon(run: SlotRun): void {
    this.logger.error(
      { slot: run.builder.slot, entries: run.builder.entryCount },
      "halted: the slot in progress is left unfinished",
    );
  }

  private emit(run: SlotRun, message: ledger.LedgerMessage, msgId: string): void {
    run.messages.push(message);
    this.outbox.publish(
      EnvelopeKind.KIND_LEDGER,
      subjects.ledgerSlot(run.builder.slot),
      ledger.LedgerMessage.encode(message).finish(),
      msgId,
    );
  }

  private emitEntry(run: SlotRun, entry: ledger.SlotEntry, type: EntryType): void {
    this.emit(run, { kind: { $case: "entry", value: entry } }, `ledger/${entry.slot}/${entry.index}`);
    run.lastHash = entry.entry!.hash;
    const hashes = entry.entry!.numHashes;
    run.hashes += hashes;
    this.m.pohHashes.inc(hashes);
    this.m.entries.inc({ type });
  }

  /** Takes the UserBlocks whose recording tick height the PoH reached and records them, in the book's order. */
  private recordUserBlocks(run: SlotRun): void {
    const { builder } = run;
    this.offerDeferred(builder.tickHeight);
    const taken = this.book.take(builder.slot, builder.tickHeight, builder.schedule);
    for (const dropped of taken.dropped) {
      this.refuseBlock(dropped.reason, dropped.detail, dropped.block.userBlockSlot, dropped.block.proposer);
    }
    for (const due of taken.recordable) run.toRecord.push(...due.blocks);
    while (run.toRecord.length > 0 && builder.canRecord) {
      const block = run.toRecord.shift()!;
      try {
        const entry = builder.recordUserBlock({
          blockHash: block.blockHash,
          proposer: block.proposer,
          userBlockSlot: block.userBlockSlot,
        });
        this.emitEntry(run, entry, "user_block");
        this.m.userBlocksRecorded.inc();
        run.userBlockEntries++;
        this.logger.debug(
          {
            slot: builder.slot,
            userBlockSlot: block.userBlockSlot,
            proposer: encodeKey(block.proposer),
            blockHash: toHex(block.blockHash),
            index: entry.index,
          },
          "UserBlockEntry recorded",
        );
      } catch (error) {
        if (!(error instanceof SlotViolationError)) throw error;
        this.logger.error(
          {
            violation: error.violation,
            userBlockSlot: block.userBlockSlot,
            proposer: encodeKey(block.proposer),
          },
          "the slot rules refused a UserBlock the recording book took",
        );
      }
    }
  }

  /**
   * Sync mode, at a tick's due time: executes what the feed holds, best fee
   * rate first, for at most half a tick, and records the items that paid a fee
   * as one TransactionEntry. False when the entry could not be recorded: the
   * bank then holds what the ledger does not, so the slot is abandoned.
   */
  private recordTransactions(run: SlotRun): boolean {
    const { builder, execution } = run;
    if (execution === undefined || !builder.canRecord || this.feed.queued === 0) return true;
    const until = performance.now() + tickDurationMs(this.genesis.timing) / 2;
    const items = execution.executeDue(() => performance.now() >= until);
    if (items.length === 0) return true;
    try {
      this.emitEntry(run, builder.recordTransactions(items), "transactions");
      return true;
    } catch (error) {
      if (!(error instanceof SlotViolationError)) throw error;
      this.logger.error(
        { slot: builder.slot, violation: error.violation, items: items.length },
        "the slot rules refused executed transactions: the slot is abandoned (its bank cannot match its ledger)",
      );
      return false;
    }
  }

  /** Sync mode: the bank of a new slot on its parent's, and the feed's queue for that chain. */
  private startSyncSlot(parentBank: Bank, slot: number): SyncSlotExecution {
    const executedOnChain = (item: FedItem) =>
      item.transactions.some((t) => parentBank.hasExecuted(t.id, t.message.recentBlockhash));
    this.feed.beginSlot(parentBank.slot, slot, executedOnChain);
    const { limits } = this.genesis;
    return new SyncSlotExecution(
      parentBank.newChild(slot),
      this.feed,
      {
        maxSlotComputeUnits: limits.maxSlotComputeUnits,
        entryBytes: limits.maxUserBlockBytes - ENTRY_BYTES_MARGIN,
        chunkItems: EXECUTION_CHUNK_ITEMS,
      },
      (transaction) => this.verified.get(transaction.wire) ?? verifyTransactionSignatures(transaction),
    );
  }

  /**
   * Sync mode: the newest slot before `slot` this leader has a bank for — one it
   * produced, one the pipeline executed to its leader's BankHash, or the root —
   * by slot number, across forks.
   */
  private newestWithBankBefore(pipeline: ReplayPipeline, slot: number): ChainState | undefined {
    for (let candidate = slot - 1; candidate >= pipeline.rootSlot; candidate--) {
      const bank = pipeline.forks.get(candidate);
      if (bank === undefined || !bank.isFrozen || bank.isDropped) continue;
      const usable =
        candidate === pipeline.rootSlot || this.own.has(candidate) || pipeline.isReady(candidate);
      if (!usable) continue;
      const state = this.own.get(candidate)?.next ?? this.follower.state(candidate);
      if (state !== undefined) return state;
    }
    return undefined;
  }

  /** Sync mode, at start: the banks catch up with the replayed ledger before the leader builds on them. */
  private async catchUpBanks(pipeline: ReplayPipeline): Promise<void> {
    const started = this.clock.now();
    while (
      pipeline.newestExecutedSlot < this.follower.newestSlot &&
      !this.finished &&
      this.clock.now() - started < CATCH_UP_LIMIT_MS
    )
      await this.clock.sleep(50, this.stopping.signal);
    this.logger.info(
      { executedSlot: pipeline.newestExecutedSlot, newestSlot: this.follower.newestSlot },
      "banks caught up with the ledger",
    );
  }

  /** Sync mode: a slot the ledger brought — the items it recorded (done once rooted), and its votes' roots. */
  private followSyncSlot(record: SlotRecord): void {
    const keys: string[] = [];
    for (const entry of record.transactionEntries) {
      for (const item of entry.items) {
        const first = item.item?.$case === "bundle" ? item.item.value.transactions[0] : item.item?.value;
        const id = first?.signatures[0];
        if (id !== undefined) keys.push(toHex(id));
      }
    }
    if (keys.length > 0) this.keysOfSlot.set(record.slot, keys);
    for (const entry of record.votes)
      for (const v of entry.votes) this.towerRoots.offer(v.validatorIndex, v.vote.slot, v.tower.root);
    const { timing } = this.genesis;
    const expiredBeforeMs = this.clock.now() - (timing.blockhashValiditySlots + 2) * timing.slotDurationMs;
    if (expiredBeforeMs - this.feedExpiredBeforeMs >= timing.slotDurationMs) {
      this.feedExpiredBeforeMs = expiredBeforeMs;
      this.feed.removeArrivedBefore(expiredBeforeMs);
    }
    if (this.current === undefined && this.pipeline !== undefined) this.applyRoot(this.pipeline);
  }

  /**
   * Sync mode, between slots: roots the banks at the newest root of 2/3 of
   * stake's towers, and forgets the fed items that chain executed up to it.
   */
  private applyRoot(pipeline: ReplayPipeline): void {
    const root = this.towerRoots.root;
    if (root <= pipeline.rootSlot || this.follower.state(root) === undefined) return;
    for (let slot: number | undefined = root; slot !== undefined && slot > pipeline.rootSlot; ) {
      this.feed.remove(this.keysOfSlot.get(slot) ?? []);
      slot = this.own.get(slot)?.parentSlot ?? this.follower.parentOf(slot);
    }
    for (const slot of this.keysOfSlot.keys()) if (slot <= root) this.keysOfSlot.delete(slot);
    for (const slot of this.mismatched) if (slot <= root) this.mismatched.delete(slot);
    pipeline.setRoot(root);
  }

  /**
   * Sync mode: an item a proposer stored in INTAKE — the feed. It is opened as
   * an INTAKE_ITEM envelope sealed by the pool proposer its subject names (a
   * forgery is refused and counted, and never runs), its envelope signature
   * verified off the event loop; then checked as an item, kept once per id,
   * and its transactions' signatures verified off the event loop too, so
   * execution finds them checked; one that fails never runs.
   */
  private onFed(message: StoredMessage): void {
    void openIntakeItemOffLoop(this.genesis, message.subject, message.data).then((opened) => {
      if (!opened.ok) {
        this.refusals.refuse("INTAKE", opened.reason, opened.detail, { seq: message.seq });
        return;
      }
      const decoded = decodeTransactionItem(opened.item, this.genesis.limits, { verifySignatures: false });
      if (!decoded.ok) {
        this.refusals.refuse(
          "INTAKE",
          tx.rejectReasonToJSON(decoded.error.rejectReason).replace("REJECT_REASON_", ""),
          decoded.error.message,
          { seq: message.seq },
        );
        return;
      }
      const first =
        decoded.value.kind === "bundle" ? decoded.value.bundle.transactions[0]! : decoded.value.transaction;
      const key = toHex(first.id);
      if (this.feed.has(key)) return;
      const fed = this.feed.add(
        fedItemOf(key, opened.item, decoded.value, opened.body.length, message.time.getTime()),
      );
      if (fed === undefined) return;
      void Promise.all(
        fed.transactions.map((transaction) =>
          verifyTransactionOffLoop(transaction).then((ok) => {
            this.verified.set(transaction.wire, ok);
            return ok;
          }),
        ),
      ).then((checks) => {
        fed.signaturesValid = checks.every(Boolean);
        if (!fed.signaturesValid) {
          this.feed.remove([fed.key]);
          this.refusals.refuse("INTAKE", "bad_signature", "a fed item whose signatures do not verify", {
            id: key,
          });
        }
      });
    });
  }

  private recordVotes(run: SlotRun): void {
    const { builder } = run;
    if (!builder.canRecord) return;
    const due = this.votes.dueFor(builder.slot, run.votesOnChain);
    if (due.length === 0) return;
    const recorded = builder.recordVotes(due.map((vote) => vote.signed));
    if (!recorded.ok) {
      this.logger.error({ violation: recorded.violation }, "the slot rules refused verified votes");
      return;
    }
    for (const vote of due) run.votesOnChain.set(toHex(vote.vote.validator), vote.vote.slot);
    this.emitEntry(run, recorded.entry, "votes");
    this.m.votesRecorded.inc(due.length);
    run.votes += due.length;
  }

  private recordMembership(run: SlotRun): void {
    const { builder } = run;
    for (const queued of this.membership.waiting()) {
      if (!builder.canRecord) return;
      const recorded = builder.recordMembership(queued.body, queued.signature);
      const fields = {
        slot: builder.slot,
        proposer: encodeKey(queued.request.proposer),
        action: ledger.membershipActionToJSON(queued.request.action),
        requestedAtSlot: queued.request.requestedAtSlot,
      };
      if (recorded.ok) {
        this.membership.remove(queued);
        this.emitEntry(run, recorded.entry, "membership");
        run.membershipEntries++;
        this.logger.info(
          { ...fields, effectiveSlot: builder.slot + this.genesis.timing.membershipDelaySlots },
          "membership request recorded",
        );
        continue;
      }
      const reason = recorded.violation.membershipReason;
      if (reason === "FROM_FUTURE") continue;
      this.membership.remove(queued);
      this.logger.info(
        { ...fields, reason, detail: recorded.violation.detail },
        "membership request refused",
      );
    }
  }

  private expireMembershipRequests(slot: number): void {
    const validity = this.genesis.timing.membershipRequestValiditySlots;
    for (const expired of this.membership.expire(slot, validity)) {
      this.logger.info(
        {
          proposer: encodeKey(expired.request.proposer),
          requestedAtSlot: expired.request.requestedAtSlot,
          slot,
        },
        "membership request expired before this leader's slot",
      );
    }
  }

  private retainMessages(slot: number, messages: ledger.LedgerMessage[]): void {
    this.produced.set(slot, messages);
    for (const kept of this.produced.keys()) {
      if (this.produced.size <= this.settings.retainedSlots) break;
      this.produced.delete(kept);
    }
  }

  private report(run: SlotRun, skippedSlots: number, entryCount: number): void {
    const { builder } = run;
    const report: ProducedSlot = {
      slot: builder.slot,
      parentSlot: builder.start.parentSlot,
      parentReason: run.parentReason,
      entryCount,
      skippedSlots,
      userBlockEntries: run.userBlockEntries,
      transactionItems: run.execution?.counts.recorded ?? 0,
      votes: run.votes,
      membershipEntries: run.membershipEntries,
      hashes: run.hashes,
      hashesPerSecond: run.hashMs > 0 ? (run.hashes * 1000) / run.hashMs : 0,
      maxTickDriftMs: run.maxDriftMs,
      meanTickDriftMs: run.driftCount > 0 ? run.driftSumMs / run.driftCount : 0,
    };
    this.lastReport = report;
    this.logger.info(
      {
        ...report,
        hashesPerSecond: Math.round(report.hashesPerSecond),
        maxTickDriftMs: Number(report.maxTickDriftMs.toFixed(3)),
        meanTickDriftMs: Number(report.meanTickDriftMs.toFixed(3)),
      },
      "slot produced",
    );
    for (const listener of this.producedListeners) listener(report);
  }

  private noteSlot(slot: number): void {
    if (slot <= this.newestSeen) return;
    this.newestSeen = slot;
    this.m.slot.set(slot);
  }

  // --- intake -------------------------------------------------------------------------------

  private startIntake(): void {
    const { timing } = this.genesis;
    const now = this.clock.now();
    // A little history, so a restarted leader still sees what arrived for its next slot.
    const since = (ms: number) => ({ time: new Date(now - ms) });
    if (this.pipeline === undefined) {
      this.consume(
        {
          stream: "USERBLOCKS",
          filterSubjects: [subjects.allUserBlocks],
          start: since(timing.slotDurationMs),
        },
        (message) => this.onUserBlock(message),
      );
    } else {
      // Everything fed within a blockhash's validity may still run: a restarted leader reads it all again.
      this.consume(
        {
          stream: "INTAKE",
          filterSubjects: [FEED_SUBJECTS],
          start: since((timing.blockhashValiditySlots + 2) * timing.slotDurationMs),
        },
        (message) => this.onFed(message),
      );
    }
    this.consume(
      { stream: "VOTES", filterSubjects: [subjects.allVotes], start: since(2 * timing.slotDurationMs) },
      (message) => this.onVote(message),
    );
    this.consume(
      {
        stream: "CONTROL",
        filterSubjects: [subjects.membership],
        start: since(timing.membershipRequestValiditySlots * timing.slotDurationMs),
      },
      (message) => this.onMembershipRequest(message),
    );
  }

  private consume(options: ReplayOptions, handle: (message: StoredMessage) => void): void {
    const replay = this.deps.bus.replay(options);
    this.replays.push(replay);
    this.intake.push(
      (async () => {
        for await (const message of replay) {
          if (this.haltSeen !== undefined) continue;
          try {
            handle(message);
          } catch (error) {
            this.logger.error({ err: error, stream: message.stream, seq: message.seq }, "intake failed");
          }
        }
      })().catch((error: unknown) =>
        this.logger.error({ err: error, stream: options.stream }, "intake stopped"),
      ),
    );
  }

  /**
   * Whether this replica records UserBlockSlot u (it leads the slot that records
   * it): "no" for a u long past, "too early" for one further ahead than the
   * slots it keeps, so a block naming a far-off u is not held.
   */
  private records(userBlockSlot: number): "yes" | "no" | "too-early" {
    const slot = recordingSlotOf(userBlockSlot);
    const { timing } = this.genesis;
    if (slot === undefined || slot < slotAt(timing, this.clock.now()) - KEPT_SLOTS) return "no";
    if (slot > slotAt(timing, this.clock.now()) + KEPT_SLOTS) return "too-early";
    return bytesEqual(this.context.leaders.leaderOf(slot), this.identity) ? "yes" : "no";
  }

  /**
   * The tick height the book judges arrivals by: the PoH's while a slot is being
   * built; otherwise where a PoH on schedule would be — but not past the start of
   * an own slot whose PoH has not started yet (it is waiting for its parent).
   */
  private tickHeightNow(): number {
    if (this.current !== undefined) return this.current.builder.tickHeight;
    const { timing } = this.genesis;
    const scheduled = scheduledTickHeight(timing, this.clock.now());
    return this.upcoming === undefined ? scheduled : Math.min(scheduled, this.upcoming * timing.ticksPerSlot);
  }

  private onUserBlock(message: StoredMessage): void {
    const userBlockSlot = Number(message.subject.split(".")[1]);
    if (!Number.isSafeInteger(userBlockSlot)) return;
    const mine = this.records(userBlockSlot);
    if (mine === "no") return;
    if (mine === "too-early") {
      this.refuseBlock("early", `UserBlockSlot ${userBlockSlot} is beyond the next epoch`, userBlockSlot);
      return;
    }
    const opened = openEnvelope(this.genesis, message.data, EnvelopeKind.KIND_USER_BLOCK);
    if (!opened.ok) {
      const reason = opened.error.code === "bad-signature" ? "bad_signature" : "malformed";
      this.refusals.refuse("USERBLOCKS", opened.error.code, opened.error.message, { userBlockSlot });
      this.refuseBlock(reason, opened.error.message, userBlockSlot);
      return;
    }
    const { body, signer } = opened.envelope;
    let header: userblock.UserBlockHeader | undefined;
    try {
      header = userblock.UserBlock.decode(body).header;
    } catch (error) {
      this.refusals.refuse("USERBLOCKS", "malformed", (error as Error).message, { userBlockSlot });
      this.refuseBlock("malformed", `not a UserBlock: ${(error as Error).message}`, userBlockSlot);
      return;
    }
    if (header === undefined) {
      this.refusals.refuse("USERBLOCKS", "malformed", "the header is missing", { userBlockSlot });
      this.refuseBlock("malformed", "the header is missing", userBlockSlot);
      return;
    }
    // As UserBlockSource.openStreamCopy requires: executors read this copy back by its subject.
    if (!bytesEqual(header.proposer, signer)) {
      this.refusals.refuse(
        "USERBLOCKS",
        "wrong-signer",
        "the envelope is not sealed by the block's proposer",
        {
          userBlockSlot,
        },
      );
      this.refuseBlock(
        "bad_signature",
        "the envelope is not signed by the block's proposer",
        userBlockSlot,
        header.proposer,
      );
      return;
    }
    if (header.userBlockSlot !== userBlockSlot) {
      this.refuseBlock(
        "wrong_slot",
        `a block for UserBlockSlot ${header.userBlockSlot} published as one for ${userBlockSlot}`,
        userBlockSlot,
        header.proposer,
      );
      return;
    }
    this.offer({ body, userBlockSlot, proposer: header.proposer });
  }

  /**
   * Offers a block to the recording book at the current tick height. A block
   * the book finds early only because this leader's PoH is behind the clock
   * (catching up after a stall) is kept and offered again once the PoH reaches
   * its UserBlockSlot: the leader's own lag must not cost a proposer its block.
   */
  private offer(block: ArrivedBlock): void {
    const schedule =
      this.current?.builder.schedule ?? this.newestKnownBefore(Number.POSITIVE_INFINITY)?.schedule;
    if (schedule === undefined) return;
    const { timing } = this.genesis;
    const offered = this.book.offer(block.body, this.tickHeightNow(), schedule);
    if (offered.status === "refused") {
      const started =
        block.userBlockSlot <=
        userBlockSlotOfTickHeight(timing, scheduledTickHeight(timing, this.clock.now()));
      if (offered.reason === "EARLY" && started && this.deferred.length < MAX_DEFERRED_BLOCKS) {
        this.deferred.push(block);
        return;
      }
      this.refuseBlock(offered.reason, offered.detail, block.userBlockSlot, block.proposer);
      if (offered.evidence !== undefined) this.recordEvidence(offered.evidence);
    } else if (offered.status === "accepted") {
      this.logger.debug(
        {
          userBlockSlot: block.userBlockSlot,
          proposer: encodeKey(block.proposer),
          blockHash: toHex(offered.block.blockHash),
        },
        "UserBlock held for recording",
      );
    }
  }

  /** Offers again the blocks kept while the PoH was behind, whose UserBlockSlot it has now reached. */
  private offerDeferred(tickHeight: number): void {
    if (this.deferred.length === 0) return;
    const current = userBlockSlotOfTickHeight(this.genesis.timing, tickHeight);
    const due = this.deferred.filter((block) => block.userBlockSlot <= current);
    if (due.length === 0) return;
    this.deferred.splice(
      0,
      this.deferred.length,
      ...this.deferred.filter((block) => block.userBlockSlot > current),
    );
    for (const block of due) this.offer(block);
  }

  private refuseBlock(
    reason: RefusalReason | Uppercase<RefusalReason> | "WRONG_HASH",
    detail: string,
    userBlockSlot: number,
    proposer?: Uint8Array,
  ): void {
    // WRONG_HASH needs an expected hash, which the leader never has: it cannot occur here.
    const label = (reason === "WRONG_HASH" ? "malformed" : reason.toLowerCase()) as RefusalReason;
    this.m.userBlocksRefused.inc({ reason: label });
    const fields = {
      reason: label,
      userBlockSlot,
      ...(proposer === undefined ? {} : { proposer: encodeKey(proposer) }),
      detail,
    };
    if (label === "late" || label === "early") this.logger.info(fields, "UserBlock refused");
    else this.logger.warn(fields, "UserBlock refused");
  }

  /** Evidence is counted and logged once per (proposer, u), kept in the store and published on CONTROL. */
  private recordEvidence(evidence: EquivocationEvidence): void {
    const id = equivocationId(evidence.userBlockSlot, evidence.proposer);
    if (this.equivocations.has(id)) return;
    this.equivocations.add(id);
    this.m.equivocations.inc();
    this.logger.warn(
      {
        userBlockSlot: evidence.userBlockSlot,
        proposer: encodeKey(evidence.proposer),
        first: {
          numHashes: evidence.first.header.numHashes,
          lastHash: toHex(evidence.first.header.lastHash),
        },
        second: {
          numHashes: evidence.second.header.numHashes,
          lastHash: toHex(evidence.second.header.lastHash),
        },
        storeKey: `equivocation/${id}`,
      },
      "equivocation: a proposer signed two different UserBlocks for one UserBlockSlot; neither is recorded",
    );
    storeEquivocationEvidence(this.deps.store, evidence).catch((error: unknown) =>
      this.logger.error({ err: error, id }, "could not store equivocation evidence"),
    );
    this.outbox.publish(
      EnvelopeKind.KIND_EQUIVOCATION_EVIDENCE,
      subjects.equivocation,
      control.EquivocationEvidence.encode(toEvidenceMessage(evidence)).finish(),
      `equivocation/${id}`,
    );
  }

  private onVote(message: StoredMessage): void {
    const opened = openVoteMessage(this.genesis, message.data);
    if (!opened.ok) {
      this.refusals.refuse("VOTES", opened.reason, opened.detail);
      return;
    }
    this.votes.offer(opened.vote);
    this.towerRoots.offer(opened.vote.validatorIndex, opened.vote.vote.slot, opened.vote.tower.root);
  }

  private onMembershipRequest(message: StoredMessage): void {
    let signed: envelope.Signed;
    try {
      signed = envelope.Signed.decode(message.data);
    } catch (error) {
      this.refusals.refuse("CONTROL", "malformed", `not an envelope: ${(error as Error).message}`);
      return;
    }
    const opened = openEnvelope(this.genesis, signed, EnvelopeKind.KIND_MEMBERSHIP_REQUEST);
    if (!opened.ok) {
      this.refusals.refuse("CONTROL", opened.error.code, opened.error.message);
      return;
    }
    let request: ledger.MembershipRequest;
    try {
      request = ledger.MembershipRequest.decode(opened.envelope.body);
    } catch (error) {
      this.refusals.refuse(
        "CONTROL",
        "malformed",
        `the membership request does not decode: ${(error as Error).message}`,
      );
      return;
    }
    if (!bytesEqual(request.proposer, opened.envelope.signer)) {
      this.refusals.refuse("CONTROL", "wrong-signer", "a membership request not sealed by its proposer", {
        signer: encodeKey(opened.envelope.signer),
      });
      return;
    }
    const queued: QueuedRequest = { request, body: opened.envelope.body, signature: signed.signature };
    if (this.membership.add(queued)) {
      this.logger.info(
        {
          proposer: encodeKey(request.proposer),
          action: ledger.membershipActionToJSON(request.action),
          requestedAtSlot: request.requestedAtSlot,
        },
        "membership request queued",
      );
    }
  }

  // --- halt ---------------------------------------------------------------------------------

  private onHalt(halt: control.Halt): void {
    if (this.haltSeen !== undefined) return;
    this.haltSeen = halt;
    this.halting.abort();
    const detail = `cluster halted at slot ${halt.slot}: ${halt.reason}`;
    this.health.halt(detail);
    this.logger.error(
      {
        slot: halt.slot,
        reason: halt.reason,
        tally: halt.tally && {
          matched: String(halt.tally.matched),
          mismatched: String(halt.tally.mismatched),
          missing: String(halt.tally.missing),
          total: String(halt.tally.total),
        },
        mismatched: halt.evidence.map((e) => encodeKey(e.validator)),
        producing: this.current?.builder.slot,
      },
      "halt: the leader stops producing",
    );
  }
}
