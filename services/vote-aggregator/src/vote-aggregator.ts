import type { ServerWritableStream } from "@grpc/grpc-js";
import type { Bus, Replay, ReplayOptions, StoredMessage } from "@simd23/bus";
import {
  bytesEqual,
  ConfirmationLevel,
  type ConfirmationStatus,
  createLedgerContext,
  EnvelopeKind,
  encodeKey,
  type Genesis,
  itemTransactions,
  openEnvelope,
  SIGNATURE_BYTES,
  slotOfUserBlockSlot,
  stakeTableOf,
  timeOfLevel,
  toHex,
  toSignatureStatus,
  VerdictLevel,
  type WellFormedUserBlock,
} from "@simd23/core";
import { control, voteaggregator } from "@simd23/proto";
import {
  HaltWatch,
  LedgerFollower,
  MessageRefusals,
  openVoteMessage,
  ProposerDirectory,
  StatusIndex,
  subjects,
  UserBlockSource,
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
  serverStream,
  unary,
} from "@simd23/service-kit";
import { isStoreError, type Store } from "@simd23/store";
import { ConfirmationEngine, type RecordedBlock } from "./confirmations.js";
import { createAggregatorMetrics } from "./metrics.js";
import { mergeStatus, StatusBook, signatureKey } from "./statuses.js";
import {
  SubscriberTooSlowError,
  Subscription,
  SubscriptionHub,
  type SubscriptionSink,
} from "./subscriptions.js";

/** The aggregator's tunables (SIMD23_VOTE_AGGREGATOR_* in main.ts). */
export interface VoteAggregatorOptions {
  /** Signatures one GetSignatureStatuses or SubscribeSignatures call may name. */
  readonly maxSignaturesPerRequest: number;
  /** Messages that may wait for one subscriber before its stream is closed as too slow. */
  readonly subscriberQueueLimit: number;
  /** How often subscribed signatures are re-read from the status index (received, dropped, other replicas). */
  readonly subscriptionRefreshMs: number;
  /** Signatures whose levels this replica keeps in memory. */
  readonly statusCacheSize: number;
  /** UserBlocks whose signature lists this replica keeps. */
  readonly blockCacheSize: number;
  /** Slots below the newest whose confirmation state is kept while they are not finalized. */
  readonly retainSlots: number;
  /** At start, VOTES is read from this far back (older slots are confirmed by the votes the ledger recorded). */
  readonly voteReplayMs: number;
  /** How long a signature's status stays in the index after its last write. */
  readonly statusTtlMs: number;
}

export const DEFAULT_VOTE_AGGREGATOR_OPTIONS: VoteAggregatorOptions = {
  maxSignaturesPerRequest: 256,
  subscriberQueueLimit: 10_000,
  subscriptionRefreshMs: 1_000,
  statusCacheSize: 100_000,
  blockCacheSize: 4_096,
  retainSlots: 512,
  voteReplayMs: 60_000,
  statusTtlMs: 60 * 60 * 1000,
};

export interface VoteAggregatorDeps {
  readonly genesis: Genesis;
  readonly bus: Bus;
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly health: HealthControl;
  /** Aborts when the service shuts down: open subscriptions end on it. */
  readonly shutdownSignal: AbortSignal;
  readonly options?: Partial<VoteAggregatorOptions>;
}

export interface VoteAggregator {
  /** VoteAggregatorService, to register with the service kit. */
  readonly service: GrpcServiceRegistration;
  readonly hooks: Required<LifecycleHooks>;
  /** Resolves once the ledger and the verdicts held at start are processed (readiness is marked then). */
  readonly caughtUp: Promise<void>;
  getSignatureStatuses(signatures: readonly Uint8Array[]): Promise<voteaggregator.SignatureStatus[]>;
  clusterStatus(): voteaggregator.GetClusterStatusResponse;
  /** Resolves once every level learnt so far is applied and written to the status index. */
  settle(): Promise<void>;
}

/** Why a consumed message was refused: counted and logged, and it changes nothing. */
interface Refusal {
  readonly reason: string;
  readonly detail: string;
}

const REFRESH_BATCH = 1_000;
const REPAIR_ATTEMPTS = 5;
const REPAIR_BACKOFF_MS = 200;
const RESUME_DELAY_MS = 1_000;

/**
 * The vote aggregator: follows LEDGER, USERBLOCKS, VOTES, the verifier's verdicts and halts,
 * turns them into confirmation levels (ConfirmationEngine), writes them to the status index,
 * and serves GetSignatureStatuses, SubscribeSignatures and GetClusterStatus. Several replicas
 * may run: each computes the same levels; the index keeps the first time of each.
 */
export function startVoteAggregator(deps: VoteAggregatorDeps): VoteAggregator {
  const { genesis, bus, store, logger, health, shutdownSignal } = deps;
  const options: VoteAggregatorOptions = { ...DEFAULT_VOTE_AGGREGATOR_OPTIONS, ...deps.options };
  const metrics = createAggregatorMetrics(deps.metrics);
  const context = createLedgerContext(genesis);
  const refusals = new MessageRefusals({
    counter: deps.metrics.messagesRefused,
    logger,
    streams: ["LEDGER", "USERBLOCKS", "VOTES", "BANKHASHES", "CONTROL"],
  });

  const statusIndex = new StatusIndex({
    store,
    ttlMs: options.statusTtlMs,
    onError: (error) => logger.error({ err: error }, "status index write failed"),
  });
  const book = new StatusBook(options.statusCacheSize);
  const hub = new SubscriptionHub();
  book.onUpdate((update) => hub.publish(update));
  const follower = new LedgerFollower({
    bus,
    context,
    refusals,
    onError: (error) => logger.warn({ err: error }, "ledger follower"),
  });
  const userBlocks = new UserBlockSource({
    bus,
    genesis,
    directory: new ProposerDirectory(store, genesis),
    // Only signature lists are kept (by the engine); whole blocks are not reused.
    cacheLimit: 16,
  });
  let stopping = false;

  const engine = new ConfirmationEngine({
    genesis,
    book,
    index: statusIndex,
    metrics,
    resolveBlock: (block) => resolveBlock(block),
    readReceived: async (signatures) => {
      const statuses = await statusIndex.get(signatures);
      const out = new Map<string, number>();
      statuses.forEach((status, i) => {
        const received = timeOfLevel(status, ConfirmationLevel.CONFIRMATION_LEVEL_RECEIVED);
        if (received !== undefined) out.set(signatureKey(signatures[i]!), received);
      });
      return out;
    },
    retainSlots: options.retainSlots,
    blockCacheSize: options.blockCacheSize,
    now: Date.now,
    onRoot: (slot) => {
      // The follower may only forget what it has replayed; a root ahead of it would orphan its next slot.
      if (follower.state(slot) !== undefined) follower.setRoot(slot);
    },
    onError: (error) => logger.error({ err: error }, "confirmation processing failed"),
  });

  async function resolveBlock(block: RecordedBlock): Promise<readonly Uint8Array[] | undefined> {
    for (let attempt = 0; attempt < REPAIR_ATTEMPTS && !stopping; attempt++) {
      const fetched = await userBlocks.fetch(block.ref, block.activeProposers);
      if (fetched.ok) return signaturesOf(fetched.block);
      if (fetched.reason !== "MISSING") {
        refusals.refuse("USERBLOCKS", fetched.reason, fetched.detail);
        return undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, REPAIR_BACKOFF_MS * 2 ** attempt));
    }
    logger.warn(
      { userBlockSlot: block.ref.userBlockSlot, blockHash: toHex(block.ref.blockHash) },
      "a recorded UserBlock could not be found: its transactions get their levels from their slot's verdicts",
    );
    return undefined;
  }

  follower.onEntry(({ entry, leader, time }) => {
    const payload = entry.entry?.payload?.$case;
    if (payload === "userBlock" || payload === "votes" || payload === "transactions") {
      engine.entryArrived(entry.slot, leader, entry.index, time.getTime());
    }
  });
  follower.onSlot(({ record }) => {
    engine.slotRecorded(record);
    metrics.slot.set(follower.newestSlot);
  });
  follower.onDeadSlot((dead) => {
    engine.slotDead(dead.slot);
    logger.warn({ slot: dead.slot, violation: dead.violation }, "ledger slot is dead");
  });

  // The active proposers of UserBlockSlot u on the newest chain, from a slot at or before u's slot.
  function activeProposersAt(userBlockSlot: number): readonly Uint8Array[] | undefined {
    const target = slotOfUserBlockSlot(userBlockSlot);
    for (
      let slot: number | undefined = follower.newestSlot;
      slot !== undefined;
      slot = follower.parentOf(slot)
    ) {
      const state = follower.state(slot);
      if (state !== undefined && state.slot <= target) return state.schedule.activeAt(userBlockSlot);
    }
    return undefined;
  }

  function onUserBlock(message: StoredMessage): Refusal | undefined {
    const userBlockSlot = Number(message.subject.split(".")[1]);
    if (!Number.isSafeInteger(userBlockSlot)) return { reason: "bad_subject", detail: message.subject };
    const active = activeProposersAt(userBlockSlot);
    if (active === undefined) return undefined;
    const opened = userBlocks.openStreamCopy(message.data, active, { userBlockSlot });
    // A block this replica cannot check yet (its schedule is behind) is fetched when recorded.
    if (!opened.ok) {
      return opened.reason === "UNSCHEDULED"
        ? undefined
        : { reason: opened.reason.toLowerCase(), detail: opened.detail };
    }
    engine.proposed(opened.block.blockHash, signaturesOf(opened.block), message.time.getTime());
    return undefined;
  }

  function onVote(message: StoredMessage): Refusal | undefined {
    const opened = openVoteMessage(genesis, message.data);
    if (!opened.ok) return opened;
    const { vote, tower } = opened.vote;
    metrics.votes.inc();
    engine.vote(vote.validator, vote.slot, tower.root, message.time.getTime());
    return undefined;
  }

  function onVerdict(message: StoredMessage): Refusal | undefined {
    const opened = openEnvelope(genesis, message.data, EnvelopeKind.KIND_SLOT_VERDICT);
    if (!opened.ok) return { reason: opened.error.code, detail: opened.error.message };
    let verdict: control.SlotVerdict;
    try {
      verdict = control.SlotVerdict.decode(opened.envelope.body);
    } catch (error) {
      return { reason: "malformed", detail: (error as Error).message };
    }
    if (
      verdict.level !== VerdictLevel.VERDICT_LEVEL_EXECUTED &&
      verdict.level !== VerdictLevel.VERDICT_LEVEL_FINALIZED
    ) {
      return { reason: "unknown-level", detail: `verdict level ${verdict.level} for slot ${verdict.slot}` };
    }
    engine.verdict(verdict, message.time.getTime());
    return undefined;
  }

  let halt: control.Halt | undefined;
  const haltWatch = new HaltWatch({
    bus,
    genesis,
    onHalt: (seen) => {
      halt = seen;
      const detail = `the cluster halted at slot ${seen.slot}: ${seen.reason}`;
      logger.error(
        {
          slot: seen.slot,
          reason: seen.reason,
          tally: seen.tally,
          haltedAtMs: Number(seen.haltedAtMs),
          evidence: seen.evidence.map((e) => ({
            validator: genesis.validators.find((v) => bytesEqual(v.identity, e.validator))?.name,
            identity: encodeKey(e.validator),
            stake: e.stake.toString(),
            commitment: toHex(e.commitment),
          })),
        },
        "halt",
      );
      health.halt(detail);
    },
    refusals,
  });

  const replays = new Set<Replay>();
  const loops: Promise<void>[] = [];
  // Reads a stream in order; if the read fails or ends while live, it resumes after the last
  // message handled, so a broken connection costs a pause, never a gap.
  function follow(
    initial: ReplayOptions,
    handle: (message: StoredMessage) => Refusal | undefined,
  ): { last: () => number; done: Promise<void> } {
    let last = 0;
    const done = (async () => {
      let replayOptions = initial;
      while (!stopping) {
        const replay = bus.replay(replayOptions);
        replays.add(replay);
        try {
          for await (const message of replay) {
            last = message.seq;
            const refusal = handle(message);
            if (refusal !== undefined) refusals.refuse(initial.stream, refusal.reason, refusal.detail);
          }
          if (initial.stopAtEnd || stopping) return;
          logger.warn({ stream: initial.stream, last }, "stream read ended: resuming");
        } catch (error) {
          if (stopping) return;
          logger.error({ err: error, stream: initial.stream, last }, "stream read failed: resuming");
        } finally {
          replays.delete(replay);
        }
        await new Promise((resolve) => setTimeout(resolve, RESUME_DELAY_MS));
        if (last > 0) replayOptions = { ...initial, start: { sequence: last + 1 } };
      }
    })();
    loops.push(done);
    return { last: () => last, done };
  }

  // Verdicts: everything held at start, then live from the next sequence.
  async function followVerdicts(): Promise<void> {
    const history = follow(
      { stream: "BANKHASHES", filterSubjects: [subjects.verdicts], start: "all", stopAtEnd: true },
      onVerdict,
    );
    await history.done;
    if (stopping) return;
    follow(
      { stream: "BANKHASHES", filterSubjects: [subjects.verdicts], start: { sequence: history.last() + 1 } },
      onVerdict,
    );
  }

  haltWatch.start();
  follow({ stream: "USERBLOCKS", filterSubjects: [subjects.allUserBlocks], start: "new" }, onUserBlock);
  follow(
    {
      stream: "VOTES",
      filterSubjects: [subjects.allVotes],
      start: { time: new Date(Date.now() - options.voteReplayMs) },
    },
    onVote,
  );
  const caughtUp = Promise.all([followVerdicts(), follower.start()]).then(() => {
    logger.info(
      { slot: follower.newestSlot, executedSlot: engine.executedSlot, finalizedSlot: engine.finalizedSlot },
      "caught up with the ledger and the verdicts",
    );
    health.markReady();
  });
  caughtUp.catch((error: Error) => logger.error({ err: error }, "catching up failed"));

  // Subscribed signatures are re-read from the index: received and dropped come from proposers,
  // and other replicas may have seen a level first.
  let refreshing = false;
  const refreshTimer = setInterval(() => {
    if (refreshing) return;
    const open = hub.openSignatures();
    if (open.length === 0) return;
    refreshing = true;
    void (async () => {
      for (let i = 0; i < open.length; i += REFRESH_BATCH) {
        const batch = open.slice(i, i + REFRESH_BATCH);
        const statuses = await statusIndex.get(batch);
        statuses.forEach((status, j) => {
          hub.learn(batch[j]!, status);
        });
      }
    })()
      .catch((error: Error) => logger.warn({ err: error }, "refreshing subscribed signatures failed"))
      .finally(() => {
        refreshing = false;
      });
  }, options.subscriptionRefreshMs);
  refreshTimer.unref();

  function checkSignatures(signatures: readonly Uint8Array[]): void {
    if (signatures.length > options.maxSignaturesPerRequest) {
      throw new RpcRejection(
        GrpcStatus.INVALID_ARGUMENT,
        "TOO_MANY_SIGNATURES",
        `${signatures.length} signatures, at most ${options.maxSignaturesPerRequest} per call`,
      );
    }
    const bad = signatures.findIndex((s) => s.length !== SIGNATURE_BYTES);
    if (bad >= 0) {
      throw new RpcRejection(
        GrpcStatus.INVALID_ARGUMENT,
        "MALFORMED_SIGNATURE",
        `signature ${bad} is ${signatures[bad]!.length} bytes, expected ${SIGNATURE_BYTES}`,
      );
    }
  }

  // The status index is where other replicas' and proposers' levels are: without it no answer is complete.
  async function readIndex(signatures: readonly Uint8Array[]): Promise<ConfirmationStatus[]> {
    try {
      return await statusIndex.get(signatures);
    } catch (error) {
      if (!isStoreError(error)) throw error;
      throw new RpcRejection(
        GrpcStatus.UNAVAILABLE,
        "STATUS_INDEX_UNAVAILABLE",
        `the status index cannot be read: ${error.message}`,
      );
    }
  }

  async function getSignatureStatuses(
    signatures: readonly Uint8Array[],
  ): Promise<voteaggregator.SignatureStatus[]> {
    const stored = await readIndex(signatures);
    return signatures.map((signature, i) =>
      toSignatureStatus(signature, mergeStatus(stored[i]!, book.get(signature)).status),
    );
  }

  function clusterStatus(): voteaggregator.GetClusterStatusResponse {
    return {
      slot: follower.newestSlot,
      optimisticSlot: engine.optimisticSlot,
      executedSlot: engine.executedSlot,
      finalizedSlot: engine.finalizedSlot,
      halted: halt !== undefined,
      halt,
      totalStake: stakeTableOf(genesis).total,
    };
  }

  async function subscribe(
    signatures: readonly Uint8Array[],
    call: ServerWritableStream<
      voteaggregator.SubscribeSignaturesRequest,
      voteaggregator.SubscribeSignaturesResponse
    >,
  ): Promise<void> {
    const subscription = new Subscription(signatures, options.subscriberQueueLimit);
    const stored = signatures.length > 0 ? await readIndex(signatures) : [];
    // Added and given the current levels in one turn: no change can fall between the two.
    hub.add(subscription);
    metrics.subscribers.set(hub.size);
    try {
      signatures.forEach((signature, i) => {
        subscription.learn(signature, stored[i]!);
        subscription.learn(signature, book.get(signature));
      });
      const end = await subscription.pipe(sinkOf(call), shutdownSignal);
      logger.debug({ end, signatures: signatures.length }, "subscription ended");
    } catch (error) {
      if (error instanceof SubscriberTooSlowError) {
        logger.warn(
          { limit: error.limit, signatures: signatures.length },
          "subscriber too slow: stream closed",
        );
        throw new RpcRejection(GrpcStatus.RESOURCE_EXHAUSTED, "SUBSCRIBER_TOO_SLOW", error.message);
      }
      throw error;
    } finally {
      hub.remove(subscription);
      metrics.subscribers.set(hub.size);
    }
  }

  const service = grpcService(voteaggregator.VoteAggregatorServiceService, {
    getSignatureStatuses: unary(async (request: voteaggregator.GetSignatureStatusesRequest) => {
      checkSignatures(request.signatures);
      return { statuses: await getSignatureStatuses(request.signatures) };
    }),
    subscribeSignatures: serverStream(async (request: voteaggregator.SubscribeSignaturesRequest, call) => {
      checkSignatures(request.signatures);
      await subscribe(request.signatures, call);
    }),
    getClusterStatus: unary(() => clusterStatus()),
  });

  async function settle(): Promise<void> {
    await engine.idle();
    await statusIndex.flush();
  }

  return {
    service,
    caughtUp,
    getSignatureStatuses,
    clusterStatus,
    settle,
    hooks: {
      async stopConsuming() {
        stopping = true;
        clearInterval(refreshTimer);
        for (const replay of replays) replay.stop();
        await Promise.all([follower.stop(), haltWatch.stop(), ...loops]);
      },
      drain: settle,
    },
  };
}

function signaturesOf(block: WellFormedUserBlock): Uint8Array[] {
  return block.items.flatMap((item) => itemTransactions(item.valid).map((t) => t.id));
}

function sinkOf(
  call: ServerWritableStream<
    voteaggregator.SubscribeSignaturesRequest,
    voteaggregator.SubscribeSignaturesResponse
  >,
): SubscriptionSink {
  return {
    write: (message) => call.write(message),
    onceDrain: (callback) => call.once("drain", callback),
    onceCancelled: (callback) => {
      if (call.cancelled) callback();
      else call.once("cancelled", callback);
    },
  };
}
