import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { performance } from "node:perf_hooks";
import { context, type Link, type Span, SpanStatusCode, type Tracer, trace } from "@opentelemetry/api";
import type { Bus, DeliveredMessage } from "@simd23/bus";
import {
  bytesEqual,
  type ChainState,
  compareBytes,
  createLedgerContext,
  decodeBundle,
  decodeTransaction,
  decodeTransactionItem,
  EnvelopeKind,
  ExecutionMode,
  fromBase58,
  type Genesis,
  itemComputeUnitLimit,
  itemFeeRate,
  itemTransactions,
  type LedgerContext,
  routeTransaction,
  slotAt,
  slotOfUserBlockSlot,
  stakeTableOf,
  tickDurationMs,
  toBase58,
  toHex,
  UserBlockBuilder,
  userBlockComputeUnitLimit,
  userBlockSlotAt,
  userBlockSlotEndMs,
  type ValidItem,
  type WellFormedUserBlock,
} from "@simd23/core";
import { type control, ledger, type proposer, tx, type userblock } from "@simd23/proto";
import {
  HaltWatch,
  LedgerFollower,
  MessageRefusals,
  openIntakeItemMessage,
  ProposerDirectory,
  StatusIndex,
  sealIntakeItem,
  subjects,
} from "@simd23/runtime";
import {
  extractTraceContext,
  GrpcStatus,
  type HealthControl,
  injectTraceContext,
  type LifecycleHooks,
  type Logger,
  RpcRejection,
  type ServiceMetrics,
  unary,
} from "@simd23/service-kit";
import type { Store } from "@simd23/store";
import type { ProposerSettings } from "./config.js";
import { assembleUserBlock, encodeItem } from "./private/block-assembly.js";
import { BlockhashBook, BlockhashWaits } from "./private/blockhashes.js";
import { Forwarder, type ForwardResult } from "./private/forwarder.js";
import { type BacklogCapacity, IntakeBook, type PendingItem } from "./private/intake-book.js";
import { INTAKE_ID_HEADER, intakePublishOptions } from "./private/intake-wire.js";
import { membershipRequestFor } from "./private/membership.js";
import { createProposerMetrics, type ProposerMetrics, rejectReasonLabel } from "./private/metrics.js";
import {
  type BlockOutcome,
  type ProposedBlock,
  ProposedBlocks,
  recordingSlotOf,
} from "./private/outcomes.js";
import { type HeldKey, PoolKeys } from "./private/pool-keys.js";
import { SyncSettlement } from "./private/sync-settlement.js";

export interface ProposerDependencies {
  readonly genesis: Genesis;
  readonly clusterSeed: Uint8Array;
  readonly bus: Bus;
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly health: HealthControl;
  readonly tracer: Tracer;
  /** host:port of this replica's gRPC server, as other proposers and executors reach it. */
  readonly advertiseAddress: string;
  readonly settings: ProposerSettings;
  /** Names this replica in the pool-key directory; unique per process (default: host, pid and a random part). */
  readonly replicaId?: string;
}

export interface ProposerRole {
  /** The gRPC implementation of simd23.proposer.v1.ProposerService. */
  readonly implementation: proposer.ProposerServiceServer;
  readonly hooks: LifecycleHooks;
  /** Settles once the replica follows the ledger, holds a pool key and takes transactions. */
  readonly ready: Promise<void>;
  /** The pool index this replica holds as its own, while it holds one. */
  readonly poolIndex: number | undefined;
  /** Pool indices whose pending intake this replica is finishing for a replica that is gone. */
  readonly adoptedPoolIndices: readonly number[];
}

type Submission =
  | {
      readonly kind: "transaction";
      readonly transaction: tx.Transaction | undefined;
      readonly forwarded: boolean;
    }
  | { readonly kind: "bundle"; readonly bundle: tx.Bundle | undefined; readonly forwarded: boolean };

type SubmitResponse = proposer.SubmitTransactionResponse | proposer.SubmitBundleResponse;

const DROP_EXPIRED = "blockhash expired before it could be recorded";
/**
 * Reasons a forward target gives that mean "not me, not now": the forwarding replica keeps the
 * item instead (a target whose view of the ledger lags does not know a blockhash this one knows).
 */
const KEEP_ON_REFUSAL = new Set([
  "QUEUE_FULL",
  "NOT_SCHEDULED",
  "NOT_READY",
  "HALTED",
  "BLOCKHASH_NOT_FOUND",
]);
const MAX_SPAN_LINKS = 128;

function rejectionCode(reason: tx.RejectReason): GrpcStatus {
  switch (reason) {
    case tx.RejectReason.REJECT_REASON_BLOCKHASH_EXPIRED:
    case tx.RejectReason.REJECT_REASON_BLOCKHASH_NOT_FOUND:
      return GrpcStatus.FAILED_PRECONDITION;
    case tx.RejectReason.REJECT_REASON_DUPLICATE:
      return GrpcStatus.ALREADY_EXISTS;
    case tx.RejectReason.REJECT_REASON_QUEUE_FULL:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case tx.RejectReason.REJECT_REASON_HALTED:
    case tx.RejectReason.REJECT_REASON_NOT_SCHEDULED:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.INVALID_ARGUMENT;
  }
}

/**
 * One proposer replica, wired to already-open dependencies (the process's
 * main.ts and the embedded devnet both call this). It follows the ledger,
 * claims a pool key, joins the proposer schedule, takes transactions over
 * gRPC (stored in INTAKE before it acknowledges them), builds its UserBlock at
 * the end of every UserBlockSlot it is scheduled in, and settles every
 * acknowledged transaction as recorded or dropped.
 *
 * In sync mode (the baseline) intake is the same, but there are no UserBlocks
 * and no proposer schedule to join: the INTAKE message is the feed every
 * leader reads, routing is over the live pool keys of the directory, and an
 * item settles once a TransactionEntry of a settled slot holds it.
 */
export function startProposer(deps: ProposerDependencies): ProposerRole {
  return new ProposerReplica(deps).role();
}

class ProposerReplica {
  private readonly genesis: Genesis;
  private readonly context: LedgerContext;
  private readonly settings: ProposerSettings;
  private readonly log: Logger;
  private readonly metrics: ProposerMetrics;
  private readonly follower: LedgerFollower;
  private readonly haltWatch: HaltWatch;
  private readonly statusIndex: StatusIndex;
  private readonly directory: ProposerDirectory;
  private readonly forwarder: Forwarder;
  /** Keys of items being forwarded by a handoff right now. */
  private readonly handingOn = new Set<string>();
  /** Keys of items handed back while being handed on: kept here whatever the forward's answer. */
  private readonly reclaimed = new Set<string>();
  private readonly book: IntakeBook;
  private readonly proposed: ProposedBlocks;
  /** Sync mode (the baseline): no UserBlocks, no membership; items are fed to the leaders through INTAKE. */
  private readonly sync: boolean;
  private readonly syncSettlement: SyncSettlement;
  /** Sync mode: keys of pending items a TransactionEntry of an unsettled slot of the tip's chain holds. */
  private syncRecorded = new Set<string>();
  /** Sync mode: the identities of the live pool keys (the directory), ordered by identity: the routing set. */
  private syncRouting: readonly Uint8Array[] = [];
  private readonly blockCache = new Map<string, { block: userblock.UserBlock; bytes: number }>();
  private blockCacheBytes = 0;
  private readonly keys: PoolKeys;
  private readonly blockhashes: BlockhashBook;
  private readonly blockhashWaits: BlockhashWaits;
  private readonly refusals: MessageRefusals;
  private halted: control.Halt | undefined;
  private readyFlag = false;
  private leaving = false;
  private stopped = false;
  private building = true;
  private lastHandledUserBlockSlot = -1;
  private buildMsEstimate = 0;
  private lastMembershipRequestMs = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private userBlockTimer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly readyPromise: Promise<void>;

  constructor(private readonly deps: ProposerDependencies) {
    this.genesis = deps.genesis;
    this.context = createLedgerContext(deps.genesis);
    this.settings = deps.settings;
    this.log = deps.logger;
    this.metrics = createProposerMetrics(deps.metrics);
    this.refusals = new MessageRefusals({
      counter: deps.metrics.messagesRefused,
      logger: this.log,
      streams: ["LEDGER", "CONTROL", "INTAKE"],
    });
    this.follower = new LedgerFollower({
      bus: deps.bus,
      context: this.context,
      trustScheduledLeaderPoh: !this.settings.verifyLedgerPoh,
      refusals: this.refusals,
      onError: (error) => this.log.warn({ err: error }, "ledger follower"),
    });
    this.haltWatch = new HaltWatch({
      bus: deps.bus,
      genesis: deps.genesis,
      onHalt: (halt) => this.onHalt(halt),
      refusals: this.refusals,
    });
    this.blockhashes = new BlockhashBook(deps.genesis.timing.blockhashValiditySlots);
    this.blockhashWaits = new BlockhashWaits(this.settings.blockhashWaitLimit);
    this.statusIndex = new StatusIndex({
      store: deps.store,
      onError: (error) => this.log.warn({ err: error }, "status index write failed"),
    });
    this.directory = new ProposerDirectory(deps.store, deps.genesis);
    this.forwarder = new Forwarder(this.directory, {
      timeoutMs: this.settings.forwardTimeoutMs,
      directoryTtlMs: Math.min(1_000, this.settings.leaseMs / 4),
    });
    const { timing } = deps.genesis;
    // Remember finished ids while a resubmission could still carry a valid blockhash.
    const finishedRetentionMs = Math.max(
      2 * 60_000,
      (timing.blockhashValiditySlots + 2) * timing.slotDurationMs,
    );
    this.book = new IntakeBook(this.settings.queueLimit, finishedRetentionMs);
    this.proposed = new ProposedBlocks(stakeTableOf(deps.genesis).total, timing.blockhashValiditySlots);
    this.sync = deps.genesis.mode === ExecutionMode.EXECUTION_MODE_SYNC;
    // One leader's whole window can be abandoned by the next leader: settle deeper than two windows
    // when no other leader has built on the slot yet.
    this.syncSettlement = new SyncSettlement(
      this.settings.settleDepthSlots ?? 2 * timing.slotsPerLeaderWindow,
    );
    this.keys = new PoolKeys({
      genesis: deps.genesis,
      clusterSeed: deps.clusterSeed,
      bus: deps.bus,
      store: deps.store,
      directory: this.directory,
      logger: this.log,
      replicaId: deps.replicaId ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`,
      advertiseAddress: deps.advertiseAddress,
      leaseMs: this.settings.leaseMs,
      quietBeforeReleaseMs: this.settings.intakeAckWaitMs + this.settings.adoptionScanMs,
      openIntake: (held) => this.openIntake(held),
      pendingOf: (poolIndex) => this.book.countPool(poolIndex),
      onLost: (held) => this.onKeyLost(held),
      onOwnClaimed: (held) => {
        this.metrics.startProposerSeries(held.name);
        this.checkMembership();
      },
    });
    this.follower.onSlot(({ record }) => {
      this.blockhashes.saw(record.slot, toHex(record.next.lastHash));
      this.onSlot(record.slot);
    });
    this.readyPromise = this.start();
    this.readyPromise.catch((error: Error) => this.log.error({ err: error }, "the proposer failed to start"));
  }

  role(): ProposerRole {
    const replica = this;
    return {
      implementation: this.implementation(),
      hooks: {
        stopConsuming: () => {
          this.leaving = true;
        },
        drain: () => this.drain(),
      },
      ready: this.readyPromise,
      get poolIndex() {
        return replica.keys.own?.entry.poolIndex;
      },
      get adoptedPoolIndices() {
        return [...replica.keys.adopted.keys()];
      },
    };
  }

  // ── start-up ──────────────────────────────────────────────────────────────

  private async start(): Promise<void> {
    const { faults } = this.settings;
    if (faults.withholdBlocks)
      this.log.warn(
        "FAULT SIMD23_FAULT_WITHHOLD_BLOCKS is on: UserBlocks are built and signed but never published",
      );
    if (faults.equivocate)
      this.log.warn(
        "FAULT SIMD23_FAULT_EQUIVOCATE is on: two different UserBlocks are published for every UserBlockSlot",
      );
    this.haltWatch.start();
    await this.follower.start();
    // Drawing an epoch's leader schedule holds the event loop for most of a second: do it before
    // holding a lease, not when the first slot of the epoch arrives.
    this.context.leaders.leaderOf(Math.max(1, slotAt(this.genesis.timing, Date.now())));
    this.refreshTip();
    this.log.info({ slot: this.follower.newestSlot }, "caught up with the ledger");
    await this.keys.claimOwn(() => this.leaving || this.stopped);
    if (this.leaving || this.stopped) return;
    this.every(this.settings.leaseMs / 3, () => this.keys.renew());
    if (this.sync) {
      this.log.info("sync mode: accepted items are fed to the leaders through INTAKE; no UserBlocks");
      await this.refreshSyncRouting();
      this.every(Math.min(1_000, this.settings.leaseMs / 3), () => this.refreshSyncRouting());
    }
    this.every(this.settings.adoptionScanMs, () => {
      if (!this.leaving && this.halted === undefined && this.keys.own !== undefined) return this.keys.scan();
    });
    this.every(this.genesis.timing.slotDurationMs, () => this.housekeeping());
    if (!this.sync) this.armUserBlockTimer();
    this.readyFlag = true;
    this.deps.health.markReady();
  }

  /** The durable INTAKE consumer of a pool index: whoever holds the key gets every unacknowledged item. */
  private async openIntake(held: HeldKey): Promise<void> {
    const poolIndex = held.entry.poolIndex;
    held.consumer = await this.deps.bus.consume(
      {
        stream: "INTAKE",
        durable: `proposer-intake-${poolIndex}`,
        filterSubjects: [subjects.intake(poolIndex)],
        start: "all",
        ackWaitMs: this.settings.intakeAckWaitMs,
        // Items stay unacknowledged until recorded: room for a full queue and the blocks in flight.
        maxAckPending: 4 * this.settings.queueLimit,
        onError: (error) => this.log.warn({ err: error, poolIndex }, "INTAKE consumer"),
      },
      (message) => this.onIntakeDelivery(held, message),
    );
  }

  // ── intake ────────────────────────────────────────────────────────────────

  private implementation(): proposer.ProposerServiceServer {
    return {
      submitTransaction: unary(
        (request: proposer.SubmitTransactionRequest) =>
          this.timedIntake({
            kind: "transaction",
            transaction: request.transaction,
            forwarded: request.forwarded,
          }) as Promise<proposer.SubmitTransactionResponse>,
      ),
      submitBundle: unary(
        (request: proposer.SubmitBundleRequest) =>
          this.timedIntake({
            kind: "bundle",
            bundle: request.bundle,
            forwarded: request.forwarded,
          }) as Promise<proposer.SubmitBundleResponse>,
      ),
      getUserBlock: unary(
        (request: proposer.GetUserBlockRequest): proposer.GetUserBlockResponse => ({
          userBlock: this.blockCache.get(toHex(request.blockHash))?.block,
        }),
      ),
      getLatestBlockhash: unary(() => {
        const state = this.follower.state(this.follower.newestSlot);
        if (state === undefined) {
          throw new RpcRejection(GrpcStatus.UNAVAILABLE, "NOT_READY", "not following the ledger yet");
        }
        return {
          blockhash: state.lastHash,
          slot: state.slot,
          lastValidSlot: state.slot + this.genesis.timing.blockhashValiditySlots,
        };
      }),
      getProposerStatus: unary(() => {
        const u = this.currentUserBlockSlot();
        const active = this.activeAt(u);
        const identity = this.keys.own?.keypair.publicKey;
        return {
          identity: identity ?? new Uint8Array(0),
          userBlockSlot: u,
          scheduled: identity !== undefined && active.some((p) => bytesEqual(p, identity)),
          activeProposers: [...active],
          queueDepth: this.book.depth,
          halted: this.halted !== undefined,
        };
      }),
    };
  }

  private async timedIntake(submission: Submission): Promise<SubmitResponse> {
    const started = performance.now();
    try {
      return await this.intake(submission);
    } finally {
      this.metrics.intakeSeconds.observe((performance.now() - started) / 1000);
    }
  }

  private refuse(reason: tx.RejectReason, detail: string): never {
    this.metrics.refused.inc({
      reason: rejectReasonLabel(reason),
    });
    throw new RpcRejection(rejectionCode(reason), reason, detail);
  }

  private async intake(submission: Submission): Promise<SubmitResponse> {
    const arrivalMs = Date.now();
    if (this.halted !== undefined) this.refuse(tx.RejectReason.REJECT_REASON_HALTED, "the cluster is halted");
    if (!this.readyFlag || this.keys.own === undefined) {
      throw new RpcRejection(
        GrpcStatus.UNAVAILABLE,
        "NOT_READY",
        "this proposer does not hold a pool key yet",
      );
    }
    const { limits } = this.genesis;
    let valid: ValidItem;
    let item: tx.TransactionItem;
    if (submission.kind === "transaction") {
      if (submission.transaction === undefined)
        this.refuse(tx.RejectReason.REJECT_REASON_MALFORMED, "no transaction in the request");
      const decoded = decodeTransaction(submission.transaction, limits);
      if (!decoded.ok) this.refuse(decoded.error.rejectReason, decoded.error.message);
      valid = { kind: "transaction", transaction: decoded.value };
      item = { item: { $case: "transaction", value: submission.transaction } };
    } else {
      if (submission.bundle === undefined)
        this.refuse(tx.RejectReason.REJECT_REASON_MALFORMED, "no bundle in the request");
      const decoded = decodeBundle(submission.bundle, limits);
      if (!decoded.ok) this.refuse(decoded.error.rejectReason, decoded.error.message);
      valid = { kind: "bundle", bundle: decoded.value };
      item = { item: { $case: "bundle", value: submission.bundle } };
    }
    const transactions = itemTransactions(valid);
    const blockhashSlot = await this.blockhashSlotFor(valid, arrivalMs);
    const id = transactions[0]!.id;
    const key = toHex(id);
    if (this.book.knows(key)) return this.reclaimOrRefuse(key);
    if (this.sync && this.syncSettlement.settledIn(key) !== undefined)
      this.refuse(tx.RejectReason.REJECT_REASON_DUPLICATE, "already executed on the ledger");

    const span = this.deps.tracer.startSpan("proposer.intake", {
      attributes: { "simd23.item.kind": valid.kind },
    });
    if (span.isRecording()) span.setAttribute("simd23.transaction.id", toBase58(id));
    return this.withSpan(span, async () => {
      if (!submission.forwarded) {
        const forwarded = await this.forwardToRoute(submission, transactions[0]!.feePayer);
        if (forwarded !== undefined) return forwarded;
        // A concurrent submission of the same item may have been accepted while this one was routed.
        if (this.book.knows(key)) return this.reclaimOrRefuse(key);
      }
      const capacity = this.backlogCapacity();
      if (this.book.overCapacity(capacity)) {
        const { items, computeUnits, bytes } = this.book.backlog;
        this.refuse(
          tx.RejectReason.REJECT_REASON_QUEUE_FULL,
          `${items} items (${computeUnits} compute units, ${bytes} bytes) wait for a UserBlock: ` +
            `the limit is ${this.book.limit} items or the ${capacity.computeUnits} compute units and ` +
            `${capacity.bytes} bytes of the next ${this.settings.backlogUserBlocks} UserBlocks`,
        );
      }
      const own = this.keys.own;
      if (own === undefined) {
        throw new RpcRejection(GrpcStatus.UNAVAILABLE, "NOT_READY", "this proposer lost its pool key");
      }
      const body = encodeItem(item);
      const pending: PendingItem = {
        key,
        id,
        item,
        body,
        sealed: sealIntakeItem(own.keypair, body),
        kind: valid.kind,
        signatures: transactions.map((t) => t.id),
        feePayer: transactions[0]!.feePayer,
        feeRate: itemFeeRate(valid),
        computeUnits: itemComputeUnitLimit(valid),
        blockhashSlot,
        arrivalMs,
        arrivalSeq: this.book.nextArrivalSeq(),
        poolIndex: own.entry.poolIndex,
        trace: span.spanContext(),
        state: "storing",
        message: undefined,
      };
      await this.store(own, pending);
      for (const signature of pending.signatures) this.statusIndex.reached(signature, "received", arrivalMs);
      this.metrics.accepted.inc({ kind: valid.kind });
      return this.acceptedResponse(pending, own.keypair.publicKey, false);
    });
  }

  /**
   * A submission of an item this replica already knows: DUPLICATE — unless it is handing the item
   * on right now. Then the sender may be the very proposer it is handing it to, handing it back
   * (evicted in turn): refused, the sender would let go of it, and this replica would too once its
   * own forward is answered. It keeps the item instead, and says so.
   */
  private reclaimOrRefuse(key: string): SubmitResponse {
    const item = this.book.get(key);
    const own = this.keys.own;
    if (item === undefined || own === undefined || !this.handingOn.has(key))
      this.refuse(tx.RejectReason.REJECT_REASON_DUPLICATE, "already accepted");
    this.reclaimed.add(key);
    return this.acceptedResponse(item, own.keypair.publicKey, false);
  }

  private async withSpan<T>(span: Span, work: () => Promise<T>): Promise<T> {
    try {
      return await context.with(trace.setSpan(context.active(), span), work);
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  }

  /** Publishes an accepted item to this key's INTAKE subject; resolves once it is durable. */
  private async store(held: HeldKey, pending: PendingItem): Promise<void> {
    this.book.reserve(pending);
    try {
      await this.deps.bus.publish(
        subjects.intake(held.entry.poolIndex),
        pending.sealed,
        intakePublishOptions(held.entry.poolIndex, pending.key, randomBytes(12).toString("hex")),
      );
    } catch (error) {
      this.book.unreserve(pending);
      this.log.warn({ err: error }, "storing an accepted transaction in INTAKE failed");
      throw new RpcRejection(
        GrpcStatus.UNAVAILABLE,
        "INTAKE_UNAVAILABLE",
        "could not store the transaction durably",
      );
    }
    if (this.sync) this.book.feed(pending);
    else this.book.stored(pending);
    this.metrics.queueDepth.set(this.book.depth);
  }

  private acceptedResponse(pending: PendingItem, holder: Uint8Array, forwarded: boolean): SubmitResponse {
    return pending.kind === "transaction"
      ? { signature: pending.id, proposer: holder, forwarded }
      : { signatures: [...pending.signatures], proposer: holder, forwarded };
  }

  /**
   * Sends the submission to the proposer its fee payer routes to, when that is
   * another active proposer (or any other while this replica is leaving).
   * Undefined: keep it here (routed here, nobody else active, or the target unreachable).
   */
  private async forwardToRoute(
    submission: Submission,
    feePayer: Uint8Array,
  ): Promise<SubmitResponse | undefined> {
    const target = this.routeFor(feePayer);
    if (target === undefined) return undefined;
    const result =
      submission.kind === "transaction"
        ? await this.forwarder.forwardTransaction(target, submission.transaction!)
        : await this.forwarder.forwardBundle(target, submission.bundle!);
    if (result.ok) {
      this.metrics.forwarded.inc();
      return { ...result.response, forwarded: true };
    }
    if ("unreachable" in result) {
      this.log.debug({ target: toBase58(target), detail: result.unreachable }, "forward failed: keeping it");
      return undefined;
    }
    const { refused } = result;
    if (refused.reason !== undefined && KEEP_ON_REFUSAL.has(refused.reason)) return undefined;
    this.metrics.refused.inc({ reason: (refused.reason ?? "unspecified").toLowerCase() });
    throw new RpcRejection(refused.code, refused.reason ?? "UNSPECIFIED", refused.message);
  }

  /** The other active proposer an item of this fee payer belongs to, or undefined when it belongs here. */
  private routeFor(feePayer: Uint8Array): Uint8Array | undefined {
    const mine = this.keys.identities();
    const active = this.activeAt(this.currentUserBlockSlot());
    const candidates = this.leaving ? active.filter((p) => !mine.some((m) => bytesEqual(m, p))) : active;
    const target = routeTransaction(feePayer, candidates);
    if (target === undefined || mine.some((m) => bytesEqual(m, target))) return undefined;
    return target;
  }

  /**
   * The slot of the oldest recent blockhash the item names, once every one is
   * valid on the tip's chain. A blockhash this replica's view does not know
   * may be newer than its tip (a starved replica's view lags; a client may take
   * its blockhash from a replica ahead of it): the submission waits — at most
   * `blockhashWaitMs`, among at most `blockhashWaitLimit` — until the view
   * reaches the slot the wall clock was in when it came, or the blockhash
   * appears. Refused as expired only when the blockhash is one the view saw,
   * older than the validity window; as not found when it never appeared.
   */
  private async blockhashSlotFor(valid: ValidItem, arrivalMs: number): Promise<number> {
    const hashes = itemTransactions(valid).map((t) => toHex(t.message.recentBlockhash));
    let judged = this.blockhashes.judge(hashes);
    const target = slotAt(this.genesis.timing, arrivalMs);
    const deadline = arrivalMs + this.settings.blockhashWaitMs;
    if (judged.status === "unknown" && this.follower.newestSlot < target && Date.now() < deadline) {
      if (this.blockhashWaits.full)
        this.refuse(
          tx.RejectReason.REJECT_REASON_QUEUE_FULL,
          `${this.blockhashWaits.size} submissions wait for this replica's view of the ledger to reach their blockhash`,
        );
      while (
        judged.status === "unknown" &&
        this.follower.newestSlot < target &&
        Date.now() < deadline &&
        !this.stopped
      ) {
        await this.blockhashWaits.next(deadline - Date.now());
        judged = this.blockhashes.judge(hashes);
      }
    }
    const tip = this.follower.newestSlot;
    switch (judged.status) {
      case "valid":
        return judged.slot;
      case "expired":
        return this.refuse(
          tx.RejectReason.REJECT_REASON_BLOCKHASH_EXPIRED,
          `the recent blockhash is slot ${judged.slot}'s: not one of the last ${this.genesis.timing.blockhashValiditySlots} slots of slot ${tip}`,
        );
      case "unknown":
        return this.refuse(
          tx.RejectReason.REJECT_REASON_BLOCKHASH_NOT_FOUND,
          tip < target
            ? `the recent blockhash is not on this proposer's chain, whose view reached slot ${tip} of ${target} within ${this.settings.blockhashWaitMs} ms`
            : `the recent blockhash is on no slot of this proposer's chain up to slot ${tip}`,
        );
    }
  }

  /** What may wait before intake refuses: the next `backlogUserBlocks` UserBlocks' compute units and bytes. */
  private backlogCapacity(): BacklogCapacity {
    const { limits } = this.genesis;
    const active = Math.max(1, this.activeAt(this.currentUserBlockSlot()).length);
    const blocks = this.settings.backlogUserBlocks;
    return {
      computeUnits: blocks * Number(userBlockComputeUnitLimit(limits, active)),
      bytes: blocks * limits.maxUserBlockBytes,
    };
  }

  /**
   * An INTAKE delivery: one this replica holds, one it finished, or a gone
   * holder's to take on. A delivery of exactly the bytes this replica sealed
   * for a pending item is that item; anything else is opened in full — an
   * INTAKE_ITEM envelope sealed by the pool key of its subject, an item whose
   * transactions decode and verify — or refused, counted and terminated.
   */
  private async onIntakeDelivery(held: HeldKey, message: DeliveredMessage): Promise<void> {
    held.lastDeliveryMs = Date.now();
    const claimedKey = message.headers[INTAKE_ID_HEADER];
    if (claimedKey !== undefined) {
      const mine = this.book.get(claimedKey);
      if (mine !== undefined && Buffer.from(mine.sealed).equals(message.data)) {
        this.book.attach(claimedKey, message);
        return;
      }
    }
    const opened = openIntakeItemMessage(this.genesis, message.subject, message.data);
    if (!opened.ok) {
      this.refusals.refuse("INTAKE", opened.reason, opened.detail, { seq: message.seq });
      return message.term();
    }
    const { item } = opened;
    const decoded = decodeTransactionItem(item, this.genesis.limits);
    if (!decoded.ok) {
      this.refusals.refuse(
        "INTAKE",
        tx.rejectReasonToJSON(decoded.error.rejectReason).replace("REJECT_REASON_", ""),
        decoded.error.message,
        { seq: message.seq },
      );
      return message.term();
    }
    const valid = decoded.value;
    const transactions = itemTransactions(valid);
    const key = toHex(transactions[0]!.id);
    if (this.book.knows(key)) {
      const disposition = this.book.attach(key, message);
      if (disposition === "settled") message.ack();
      return;
    }
    const now = Date.now();
    const judged = this.blockhashes.judge(transactions.map((t) => toHex(t.message.recentBlockhash)));
    if (
      judged.status === "unknown" &&
      this.follower.newestSlot < slotAt(this.genesis.timing, message.time.getTime())
    ) {
      // Stored by a replica whose view was ahead of this one's: look again once this view caught up.
      return message.nak(this.genesis.timing.slotDurationMs);
    }
    if (judged.status !== "valid") {
      for (const t of transactions) this.statusIndex.dropped(t.id, now, DROP_EXPIRED);
      this.metrics.dropped.inc({ reason: "blockhash_expired" });
      return message.ack();
    }
    if (this.sync && this.syncSettlement.settledIn(key) !== undefined) {
      // A gone holder's item the ledger already settled: it was executed.
      this.book.rememberFinished(key, now);
      return message.ack();
    }
    const spanContext = trace.getSpanContext(extractTraceContext(message.headers));
    const taken: PendingItem = {
      key,
      id: transactions[0]!.id,
      item,
      body: opened.body,
      sealed: message.data,
      kind: valid.kind,
      signatures: transactions.map((t) => t.id),
      feePayer: transactions[0]!.feePayer,
      feeRate: itemFeeRate(valid),
      computeUnits: itemComputeUnitLimit(valid),
      blockhashSlot: judged.slot,
      arrivalMs: message.time.getTime(),
      arrivalSeq: this.book.nextArrivalSeq(),
      poolIndex: held.entry.poolIndex,
      trace: spanContext,
      state: "waiting",
      message,
    };
    if (this.sync) this.book.takeOverFed(taken);
    else this.book.takeOver(taken);
    this.metrics.queueDepth.set(this.book.depth);
  }

  // ── the ledger ────────────────────────────────────────────────────────────

  private refreshTip(): void {
    const tip = this.follower.newestSlot;
    this.blockhashes.setTip(tip, this.follower.recentBlockhashes(tip));
    this.metrics.slot.set(tip);
  }

  private onSlot(slot: number): void {
    if (slot !== this.follower.newestSlot) return;
    this.refreshTip();
    this.blockhashWaits.wakeAll();
    if (!this.follower.caughtUp) return;
    if (this.sync) {
      this.settleFed();
      return;
    }
    this.settleBlocks();
    this.checkMembership();
  }

  /** The chain state on the tip's chain that decides the active set of a slot. */
  private chainStateFor(slot: number): ChainState | undefined {
    for (let current: number | undefined = this.follower.newestSlot; current !== undefined; ) {
      if (current <= slot) return this.follower.state(current);
      current = this.follower.parentOf(current);
    }
    return undefined;
  }

  /** The proposers transactions route to: the active set of u, or in sync mode the live pool keys. */
  private activeAt(userBlockSlot: number): readonly Uint8Array[] {
    if (this.sync) return this.syncRouting;
    return this.chainStateFor(slotOfUserBlockSlot(userBlockSlot))?.schedule.activeAt(userBlockSlot) ?? [];
  }

  private currentUserBlockSlot(): number {
    return userBlockSlotAt(this.genesis.timing, Date.now());
  }

  private settleBlocks(): void {
    const tip = this.follower.newestSlot;
    const chain = [tip, ...this.follower.ancestors(tip)].flatMap((slot) => this.follower.record(slot) ?? []);
    const outcomes = this.proposed.settle(chain);
    for (const outcome of outcomes) this.applyOutcome(outcome);
    if (outcomes.length > 0) this.metrics.queueDepth.set(this.book.depth);
  }

  /**
   * Sync mode: settles fed items against the tip's chain — done once a settled
   * slot's TransactionEntry holds them, recorded while an unsettled one does,
   * fed again when that slot leaves the chain — and drops those whose
   * blockhash the next slot would refuse.
   */
  private settleFed(): void {
    const tip = this.follower.newestSlot;
    const chain = [tip, ...this.follower.ancestors(tip)].flatMap((slot) => this.follower.record(slot) ?? []);
    const { settled, recorded } = this.syncSettlement.update(chain);
    const now = Date.now();
    for (const key of settled.keys()) {
      const item = this.book.get(key);
      if (item !== undefined) this.book.finish(item, now)?.ack();
      this.syncRecorded.delete(key);
    }
    let requeued = 0;
    for (const key of this.syncRecorded) {
      if (recorded.has(key)) continue;
      this.syncRecorded.delete(key);
      const item = this.book.get(key);
      if (item !== undefined && this.book.markFed(item)) requeued += 1;
    }
    for (const key of recorded) {
      const item = this.book.get(key);
      if (item !== undefined && (item.state === "recorded" || this.book.markRecorded(item)))
        this.syncRecorded.add(key);
    }
    if (requeued > 0) {
      this.metrics.requeued.inc(requeued);
      this.log.info(
        { items: requeued },
        "a slot that recorded accepted items left the chain: they wait again",
      );
    }
    this.dropExpiredFed(tip);
    this.syncSettlement.forgetBelow(tip - this.syncSettledRetentionSlots());
    this.metrics.queueDepth.set(this.book.depth);
  }

  /**
   * Sync mode: how long settled keys are remembered — long enough for a gone
   * replica's items to reach the replica that adopts its key (its lease, a
   * scan, an ack wait; twice over), never past the blockhash validity.
   */
  private syncSettledRetentionSlots(): number {
    const { leaseMs, adoptionScanMs, intakeAckWaitMs } = this.settings;
    const { slotDurationMs, blockhashValiditySlots } = this.genesis.timing;
    return Math.min(
      blockhashValiditySlots,
      Math.ceil((2 * (leaseMs + adoptionScanMs + intakeAckWaitMs)) / slotDurationMs),
    );
  }

  /**
   * Sync mode: fed items whose oldest blockhash the bank of every slot still to
   * come refuses — the slot after the tip, or the slot in progress by the clock
   * when the ledger has stalled (skipped slots age blockhashes too).
   */
  private dropExpiredFed(tip: number): void {
    const validity = this.genesis.timing.blockhashValiditySlots;
    const next = Math.max(tip + 1, slotAt(this.genesis.timing, Date.now()));
    this.drop(
      this.book.fedWhere((item) => next - item.blockhashSlot > validity),
      DROP_EXPIRED,
      "blockhash_expired",
    );
  }

  /** Sync mode: the live pool keys' identities, from the directory, ordered by identity (as an active set is). */
  private async refreshSyncRouting(): Promise<void> {
    const entries = await this.directory.list();
    this.syncRouting = entries
      .map((entry) => fromBase58(entry.identity))
      .sort(compareBytes)
      .filter((identity, i, all) => i === 0 || !bytesEqual(identity, all[i - 1]!));
    const own = this.keys.own?.keypair.publicKey;
    this.metrics.scheduled.set(own !== undefined && this.syncRouting.some((p) => bytesEqual(p, own)) ? 1 : 0);
    this.metrics.activeProposers.set(this.syncRouting.length);
  }

  private applyOutcome(outcome: BlockOutcome): void {
    const { block } = outcome;
    const now = Date.now();
    if (outcome.recorded) {
      if (block.published) this.metrics.blocksRecorded.inc({ proposer: block.proposerName });
      for (const item of block.items) this.book.finish(item, now)?.ack();
      return;
    }
    if (block.published) this.metrics.blocksMissed.inc({ proposer: block.proposerName });
    if (block.items.length > 0) {
      this.log.info(
        { userBlockSlot: block.userBlockSlot, reason: outcome.reason, items: block.items.length },
        "a UserBlock was not recorded: proposing its items again",
      );
    }
    this.metrics.requeued.inc(block.items.length);
    this.book.putBack(block.items);
  }

  private isExpiredFor(item: PendingItem, userBlockSlot: number): boolean {
    return recordingSlotOf(userBlockSlot) - item.blockhashSlot > this.genesis.timing.blockhashValiditySlots;
  }

  private drop(items: readonly PendingItem[], reason: string, label: string): void {
    const now = Date.now();
    for (const item of items) {
      this.book.finish(item, now)?.ack();
      for (const signature of item.signatures) this.statusIndex.dropped(signature, now, reason);
    }
    if (items.length > 0) {
      this.metrics.dropped.inc({ reason: label }, items.length);
      this.log.info({ items: items.length, reason }, "dropped accepted items");
    }
  }

  // ── membership ────────────────────────────────────────────────────────────

  /** Sends JOIN (or LEAVE while leaving) when the tip's schedule does not have it yet; resends while not recorded. */
  private checkMembership(): void {
    const own = this.keys.own;
    // Sync mode has no UserBlocks: a member would be evicted for missing them, and routing needs no schedule.
    if (this.sync || own === undefined || this.halted !== undefined || this.stopped) return;
    const tip = this.follower.newestSlot;
    const state = this.follower.state(tip);
    if (state === undefined) return;
    const request = membershipRequestFor(
      state.schedule,
      own.keypair.publicKey,
      this.leaving ? "not-member" : "member",
      { tip, wallClock: slotAt(this.genesis.timing, Date.now()) },
    );
    const resendMs = 4 * this.genesis.timing.slotDurationMs;
    if (request === undefined || Date.now() - this.lastMembershipRequestMs < resendMs) return;
    this.lastMembershipRequestMs = Date.now();
    const action = request.action === ledger.MembershipAction.MEMBERSHIP_ACTION_JOIN ? "join" : "leave";
    this.log.info(
      { action, requestedAtSlot: request.requestedAtSlot },
      "asking to change the proposer schedule",
    );
    this.track(
      own.publisher
        .publish(
          EnvelopeKind.KIND_MEMBERSHIP_REQUEST,
          subjects.membership,
          ledger.MembershipRequest.encode(request).finish(),
          { msgId: `membership.${toHex(own.keypair.publicKey)}.${action}.${request.requestedAtSlot}` },
        )
        .catch((error: Error) =>
          this.log.warn({ err: error, action }, "publishing a membership request failed"),
        ),
    );
  }

  // ── UserBlocks ────────────────────────────────────────────────────────────

  /** Wakes at the end of every UserBlockSlot, early by the time a build takes, so the block is out by its end. */
  private armUserBlockTimer(): void {
    if (!this.building) return;
    const now = Date.now();
    // After a stall the UserBlockSlots that went by are not built: their blocks would be late.
    const u = Math.max(this.currentUserBlockSlot(), this.lastHandledUserBlockSlot + 1);
    const at = userBlockSlotEndMs(this.genesis.timing, u) - this.buildLeadMs();
    this.userBlockTimer = setTimeout(
      () => {
        this.userBlockTimer = undefined;
        this.lastHandledUserBlockSlot = u;
        try {
          this.onUserBlockSlotEnd(u);
        } catch (error) {
          this.log.error({ err: error, userBlockSlot: u }, "building a UserBlock failed");
        }
        this.armUserBlockTimer();
      },
      Math.max(0, at - now),
    );
  }

  /**
   * Starts a build this much before the end of a UserBlockSlot, so the block is
   * published by its end: the configured lead (timer and network slack) plus the
   * recent build time with room to spare, at most half the UserBlockSlot.
   */
  private buildLeadMs(): number {
    const { timing } = this.genesis;
    const leadMs =
      this.settings.buildLeadTicks * tickDurationMs(timing) + Math.ceil(this.buildMsEstimate * 1.5);
    return Math.min(timing.slotDurationMs / 4, leadMs);
  }

  private onUserBlockSlotEnd(u: number): void {
    const own = this.keys.own;
    if (own === undefined || this.halted !== undefined || this.stopped) return;
    const active = this.activeAt(u);
    const me = own.keypair.publicKey;
    const scheduled = active.some((p) => bytesEqual(p, me));
    this.metrics.scheduled.set(scheduled ? 1 : 0);
    this.metrics.activeProposers.set(active.length);
    if (!scheduled) {
      if (this.book.depth > 0) this.track(this.handOff("not scheduled"));
      return;
    }
    const started = performance.now();
    const assembled = assembleUserBlock(this.book, {
      genesis: this.genesis,
      keypair: own.keypair,
      userBlockSlot: u,
      activeProposerCount: active.length,
      isExpired: (item) => this.isExpiredFor(item, u),
    });
    this.drop(assembled.expired, DROP_EXPIRED, "blockhash_expired");
    const { block, included } = assembled;
    const buildMs = performance.now() - started;
    this.buildMsEstimate = this.buildMsEstimate === 0 ? buildMs : 0.8 * this.buildMsEstimate + 0.2 * buildMs;
    const proposed: ProposedBlock = {
      userBlockSlot: u,
      proposer: me,
      blockHash: block.blockHash,
      items: included,
      proposerName: own.name,
      published: false,
    };
    this.proposed.add(proposed);
    this.remember(block);
    this.metrics.queueDepth.set(this.book.depth);
    if (this.settings.faults.withholdBlocks) {
      this.log.debug({ userBlockSlot: u, items: included.length }, "FAULT: withholding the UserBlock");
      return;
    }
    const links: Link[] = [];
    for (const item of included) {
      if (item.trace !== undefined && links.length < MAX_SPAN_LINKS) links.push({ context: item.trace });
    }
    const span = this.deps.tracer.startSpan("proposer.user_block", {
      links,
      attributes: {
        "simd23.user_block_slot": u,
        "simd23.user_block.hash": toBase58(block.blockHash),
        "simd23.user_block.items": included.length,
        "simd23.user_block.build_ms": buildMs,
      },
    });
    const publications = [this.publishBlock(own, block, span)];
    if (this.settings.faults.equivocate)
      publications.push(this.publishBlock(own, this.conflictingBlock(own, u, active.length), span));
    const now = Date.now();
    this.track(
      Promise.all(publications).then((results) => {
        span.end();
        if (!results[0]) return;
        proposed.published = true;
        this.log.debug(
          {
            userBlockSlot: u,
            items: included.length,
            buildMs: Math.round(buildMs),
            publishedBeforeEndMs: userBlockSlotEndMs(this.genesis.timing, u) - Date.now(),
          },
          "UserBlock published",
        );
        this.metrics.blocksBuilt.inc({ proposer: own.name });
        this.metrics.blockTransactions.observe(block.header.transactionCount);
        this.metrics.blockBytes.observe(block.bytes.length);
        for (const item of included)
          for (const signature of item.signatures) this.statusIndex.reached(signature, "proposed", now);
      }),
    );
  }

  /** FAULT equivocate: a second, different block for the same UserBlockSlot (one empty PoH entry). */
  private conflictingBlock(own: HeldKey, u: number, activeProposerCount: number): WellFormedUserBlock {
    const builder = new UserBlockBuilder({
      genesis: this.genesis,
      keypair: own.keypair,
      userBlockSlot: u,
      activeProposerCount,
    });
    builder.addEntry(1, []);
    return builder.finish();
  }

  private async publishBlock(own: HeldKey, block: WellFormedUserBlock, span: Span): Promise<boolean> {
    try {
      const headers = injectTraceContext({}, trace.setSpan(context.active(), span));
      await own.publisher.publish(
        EnvelopeKind.KIND_USER_BLOCK,
        subjects.userBlock(block.userBlockSlot, block.proposer, block.blockHash),
        block.bytes,
        { msgId: toHex(block.blockHash), headers },
      );
      return true;
    } catch (error) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      this.log.warn({ err: error, userBlockSlot: block.userBlockSlot }, "publishing a UserBlock failed");
      return false;
    }
  }

  /** Keeps a built block for GetUserBlock, within the cache's byte budget (oldest first out). */
  private remember(block: WellFormedUserBlock): void {
    if (this.settings.blockCacheBytes <= 0) return;
    const key = toHex(block.blockHash);
    if (this.blockCache.has(key)) return;
    this.blockCache.set(key, { block: block.block, bytes: block.bytes.length });
    this.blockCacheBytes += block.bytes.length;
    for (const [oldest, cached] of this.blockCache) {
      if (this.blockCacheBytes <= this.settings.blockCacheBytes) break;
      this.blockCache.delete(oldest);
      this.blockCacheBytes -= cached.bytes;
    }
  }

  // ── handing items on ──────────────────────────────────────────────────────

  /**
   * Forwards waiting items to the proposers their fee payers route to (among
   * the active proposers other than the keys held here); each is acknowledged
   * here once the target took it. What cannot be placed stays waiting.
   */
  private async handOff(why: string): Promise<void> {
    const mine = this.keys.identities();
    const active = this.activeAt(this.currentUserBlockSlot()).filter(
      (p) => !mine.some((m) => bytesEqual(m, p)),
    );
    if (active.length === 0) return;
    const items = this.book.takeWaiting(() => true);
    const kept: PendingItem[] = [];
    let handed = 0;
    let next = 0;
    const worker = async () => {
      for (let item = items[next++]; item !== undefined; item = items[next++]) {
        const target = routeTransaction(item.feePayer, active)!;
        const wire = item.item.item;
        this.handingOn.add(item.key);
        let result: ForwardResult;
        try {
          result =
            wire?.$case === "bundle"
              ? await this.forwarder.forwardBundle(target, wire.value)
              : wire?.$case === "transaction"
                ? await this.forwarder.forwardTransaction(target, wire.value)
                : { ok: false, unreachable: "not a transaction item" };
        } finally {
          this.handingOn.delete(item.key);
        }
        if (this.reclaimed.delete(item.key)) kept.push(item);
        else if (result.ok || ("refused" in result && result.refused.reason === "DUPLICATE")) {
          this.book.handOn(item)?.ack();
          handed += 1;
        } else if ("refused" in result && result.refused.reason === "BLOCKHASH_EXPIRED") {
          this.drop([item], DROP_EXPIRED, "blockhash_expired");
        } else kept.push(item);
      }
    };
    await Promise.all(Array.from({ length: Math.min(32, items.length) }, worker));
    this.book.putBack(kept);
    this.metrics.forwarded.inc(handed);
    this.metrics.queueDepth.set(this.book.depth);
    if (items.length > 0)
      this.log.info({ why, handed, kept: kept.length }, "handed waiting items to other proposers");
  }

  // ── periodic work, halt, shutdown ─────────────────────────────────────────

  private housekeeping(): void {
    const now = Date.now();
    this.book.prune(now);
    if (this.sync) {
      if (this.follower.caughtUp) this.dropExpiredFed(this.follower.newestSlot);
      this.metrics.queueDepth.set(this.book.depth);
      return;
    }
    const u = this.currentUserBlockSlot();
    const expired = this.book.takeWaiting((item) => this.isExpiredFor(item, u));
    this.drop(expired, DROP_EXPIRED, "blockhash_expired");
    this.metrics.queueDepth.set(this.book.depth);
    this.checkMembership();
  }

  /** A lease this replica held expired: what it held under that key is the next holder's now. */
  private onKeyLost(held: HeldKey): void {
    this.book.forgetPool(held.entry.poolIndex);
    // Blocks it built as that key: their items stored under other keys wait for the next block.
    for (const block of this.proposed.forgetProposer(held.keypair.publicKey)) this.book.putBack(block.items);
    this.metrics.queueDepth.set(this.book.depth);
    if (held.own) {
      this.metrics.scheduled.set(0);
      if (!this.leaving && !this.stopped) this.track(this.keys.claimOwn(() => this.leaving || this.stopped));
    }
  }

  private onHalt(halt: control.Halt): void {
    this.halted = halt;
    const detail = `halted at slot ${halt.slot}: ${halt.reason}`;
    this.log.error(
      { slot: halt.slot, reason: halt.reason },
      "the cluster halted: no more UserBlocks or intake",
    );
    this.deps.health.halt(detail);
  }

  /**
   * SIGTERM: leave the schedule and keep producing until the leave takes
   * effect (within the shutdown deadline), let the last blocks settle, hand
   * what still waits to the other proposers, then acknowledge and release.
   */
  private async drain(): Promise<void> {
    if (this.sync) return this.drainSync();
    this.leaving = true;
    const started = Date.now();
    const budgetMs = Math.max(0, this.settings.shutdownDeadlineMs * 0.7 - 500);
    this.lastMembershipRequestMs = 0;
    this.checkMembership();
    const slotMs = this.genesis.timing.slotDurationMs;
    while (Date.now() - started < budgetMs && this.keys.own !== undefined && this.halted === undefined) {
      const me = this.keys.own.keypair.publicKey;
      const state = this.follower.state(this.follower.newestSlot);
      const leaveRecorded = state !== undefined && !state.schedule.isMember(me);
      const u = this.currentUserBlockSlot();
      const stillScheduled = [u, u + 1].some((v) => this.activeAt(v).some((p) => bytesEqual(p, me)));
      if (leaveRecorded && !stillScheduled && this.proposed.size === 0) break;
      this.checkMembership();
      await this.sleep(slotMs / 4);
    }
    this.building = false;
    clearTimeout(this.userBlockTimer);
    await Promise.allSettled(this.inFlight);
    // Blocks still unsettled are not known recorded: their items are handed on too.
    for (const held of this.keys.held()) {
      for (const block of this.proposed.forgetProposer(held.keypair.publicKey))
        this.book.putBack(block.items);
    }
    await this.handOff("shutting down");
    this.stopped = true;
    this.blockhashWaits.wakeAll();
    for (const timer of this.timers) clearInterval(timer);
    await Promise.allSettled(this.inFlight);
    await this.statusIndex.flush();
    for (const { poolIndex, left } of await this.keys.releaseAll()) {
      if (left > 0) {
        this.log.warn(
          { poolIndex, items: left },
          "items could not be handed on: they stay in INTAKE for the next holder of this key",
        );
      }
    }
    this.metrics.scheduled.set(0);
    this.forwarder.close();
    await this.follower.stop();
    await this.haltWatch.stop();
    this.log.info({ ms: Date.now() - started }, "left the proposer schedule and handed on its queue");
  }

  /**
   * Sync mode's SIGTERM: new submissions are routed to the other replicas while
   * what this one accepted settles (the leaders already have it, from INTAKE),
   * within the shutdown deadline; then the keys are released — what is still
   * pending stays in INTAKE, and the replica that adopts the key settles it.
   */
  private async drainSync(): Promise<void> {
    this.leaving = true;
    const started = Date.now();
    const budgetMs = Math.max(0, this.settings.shutdownDeadlineMs * 0.7 - 500);
    while (Date.now() - started < budgetMs && this.book.size > 0 && this.halted === undefined)
      await this.sleep(this.genesis.timing.slotDurationMs / 4);
    this.stopped = true;
    this.blockhashWaits.wakeAll();
    for (const timer of this.timers) clearInterval(timer);
    await Promise.allSettled(this.inFlight);
    await this.statusIndex.flush();
    for (const { poolIndex, left } of await this.keys.releaseAll()) {
      if (left > 0)
        this.log.warn(
          { poolIndex, items: left },
          "items not settled yet: they stay in INTAKE for the replica that adopts this key",
        );
    }
    this.metrics.scheduled.set(0);
    this.forwarder.close();
    await this.follower.stop();
    await this.haltWatch.stop();
    this.log.info({ ms: Date.now() - started }, "released its pool keys");
  }

  private every(intervalMs: number, work: () => unknown): void {
    const timer = setInterval(() => {
      if (this.stopped) return;
      this.track(Promise.resolve().then(work));
    }, intervalMs);
    this.timers.add(timer);
  }

  private track(work: Promise<unknown>): void {
    const tracked = work.catch((error: Error) => this.log.error({ err: error }, "background work failed"));
    this.inFlight.add(tracked);
    void tracked.finally(() => this.inFlight.delete(tracked));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}
