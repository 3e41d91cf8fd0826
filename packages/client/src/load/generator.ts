import { randomBytes } from "node:crypto";
import {
  burnComputeInstruction,
  encodeKey,
  type Keypair,
  memoInstruction,
  transferInstruction,
} from "@simd23/core";
import type { tx } from "@simd23/proto";
import type { SignedTransaction, Simd23Client } from "../client.js";
import { ConfigurationError, InvalidInputError, Simd23Error, TransactionRejectedError } from "../errors.js";
import { generateKeypair } from "../keys.js";
import { type LevelName, PROGRESS_LEVEL_NAMES, type ProgressLevelName, StatusTracker } from "../status.js";
import { keepBlockhashFresh } from "./blockhash.js";
import { type LatencySummary, latencySummary } from "./summary.js";

/** What each load transaction does; every one also carries a memo that makes its id unique. */
export type LoadKind = "transfer" | "memo" | "burn";

export interface LoadOptions {
  /** Target transactions per second. */
  readonly rate: number;
  readonly durationMs: number;
  /** Fee payers to spread the load over (each routes to one proposer); default 8. */
  readonly payers?: number;
  /** `transfer` (1 lamport to the next payer; default), `memo`, or `burn` (burnUnits compute units). */
  readonly kind?: LoadKind;
  readonly burnUnits?: number;
  /** Priority fee rate of every transaction, micro-lamports per compute unit (default 0). */
  readonly computeUnitPrice?: bigint | number;
  /** Fee payers funded already; without them, `payers` new ones are funded from the faucet. */
  readonly payerKeypairs?: readonly Keypair[];
  /** Lamports each new payer gets; default exactly what its share of the load costs. */
  readonly fundLamports?: bigint;
  /** The level the run waits for every transaction to reach before reporting (default `finalized`). */
  readonly until?: ProgressLevelName;
  /** How long to wait, after sending, for transactions to reach `until` (default 60 s). */
  readonly settleTimeoutMs?: number;
  /** Most submissions waiting for a proposer's answer at once (default 256). */
  readonly maxInFlight?: number;
  /** Aborting stops sending early; what was sent is still followed and reported. */
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: LoadProgress) => void;
  /** How often onProgress is called, ms (default 250). */
  readonly progressIntervalMs?: number;
}

export type LoadPhase = "funding" | "sending" | "settling";

export interface LoadProgress {
  readonly phase: LoadPhase;
  /** Since the phase began, ms. */
  readonly elapsedMs: number;
  readonly planned: number;
  readonly sent: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly failed: number;
  /** Accepted transactions at or past each level. */
  readonly reached: Readonly<Record<ProgressLevelName, number>>;
  readonly dropped: number;
}

/** A transaction that was accepted but never reached `executed`. */
export interface UnexecutedTransaction {
  readonly signature: string;
  /** The last level it reached (null: the aggregator never reported it). */
  readonly level: LevelName | null;
  readonly droppedReason: string | null;
}

export interface LoadReport {
  readonly rate: number;
  readonly durationMs: number;
  readonly planned: number;
  readonly sent: number;
  readonly accepted: number;
  /** Refusals by reason (`QUEUE_FULL`, …). */
  readonly rejected: Readonly<Record<string, number>>;
  /** Submissions that failed otherwise, by error name (`ConnectionError`, …). */
  readonly failed: Readonly<Record<string, number>>;
  /** From the first submission to the last answer, ms. */
  readonly sendDurationMs: number;
  /** Accepted transactions per second over sendDurationMs. */
  readonly acceptedPerSecond: number;
  /**
   * For each level, the accepted transactions that reached it and their latency: the time the
   * aggregator stamped on the level minus the time the client submitted the transaction (the
   * same clock on a devnet; synchronised clocks on a cluster).
   */
  readonly levels: Readonly<Record<ProgressLevelName, LatencySummary>>;
  /** Dropped transactions by reason. */
  readonly dropped: Readonly<Record<string, number>>;
  /** Execution results (`ok` or the error name) of the executed transactions. */
  readonly results: Readonly<Record<string, number>>;
  /** Every accepted transaction that never reached `executed`, in submission order. */
  readonly notExecuted: readonly UnexecutedTransaction[];
  readonly payers: readonly string[];
}

interface Sent {
  readonly sentAtMs: number;
  readonly tracker: StatusTracker;
  accepted: boolean;
}

const STATUS_BATCH = 256;
const SETTLE_POLL_MS = 1_000;
const RESUBSCRIBE_DELAY_MS = 500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function positiveInteger(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InvalidInputError(`${what} must be a positive integer, got ${value}`);
  return value;
}

const increment = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/**
 * Drives a testnet at a target rate and reports how far every transaction got: funds its own
 * fee payers from the faucet (or uses given ones), submits `rate × duration` transactions on a
 * schedule, follows every level through the aggregator's stream of all signatures (with polls
 * as the safety net), waits for each to reach `until`, and summarises counts and latencies per
 * level, refusals, drops, results, and every transaction that never executed.
 */
export async function runLoad(client: Simd23Client, options: LoadOptions): Promise<LoadReport> {
  if (!(options.rate > 0 && Number.isFinite(options.rate)))
    throw new InvalidInputError(
      `the rate must be a positive number of transactions per second, got ${options.rate}`,
    );
  positiveInteger(options.durationMs, "the duration (ms)");
  const kind = options.kind ?? "transfer";
  const burnUnits = positiveInteger(options.burnUnits ?? 10_000, "burnUnits");
  const maxInFlight = positiveInteger(options.maxInFlight ?? 256, "maxInFlight");
  const until = options.until ?? "finalized";
  const settleTimeoutMs = options.settleTimeoutMs ?? 60_000;
  const progressIntervalMs = options.progressIntervalMs ?? 250;
  const computeUnitPrice = BigInt(options.computeUnitPrice ?? 0);
  const planned = Math.max(1, Math.round((options.rate * options.durationMs) / 1_000));
  if (client.endpoints.voteAggregator === undefined)
    throw new ConfigurationError("the load generator follows confirmations: it needs the vote aggregator");

  const runId = randomBytes(4).toString("hex");
  const records = new Map<string, Sent>();
  const order: string[] = [];
  const rejected: Record<string, number> = {};
  const failed: Record<string, number> = {};
  let sent = 0;
  let accepted = 0;
  let phase: LoadPhase = "funding";
  let phaseStartMs = Date.now();

  const progress = (): LoadProgress => {
    const reached = Object.fromEntries(PROGRESS_LEVEL_NAMES.map((l) => [l, 0])) as Record<
      ProgressLevelName,
      number
    >;
    let dropped = 0;
    for (const record of records.values()) {
      const level = record.tracker.level;
      if (level === null) continue;
      if (level === "dropped") {
        dropped++;
        for (const name of PROGRESS_LEVEL_NAMES)
          if (record.tracker.timeOf(name) !== undefined) reached[name]++;
        continue;
      }
      for (const name of PROGRESS_LEVEL_NAMES) {
        reached[name]++;
        if (name === level) break;
      }
    }
    return {
      phase,
      elapsedMs: Date.now() - phaseStartMs,
      planned,
      sent,
      accepted,
      rejected: Object.values(rejected).reduce((a, b) => a + b, 0),
      failed: Object.values(failed).reduce((a, b) => a + b, 0),
      reached,
      dropped,
    };
  };
  const progressTimer =
    options.onProgress === undefined
      ? undefined
      : setInterval(() => options.onProgress?.(progress()), progressIntervalMs);

  let following = true;
  let subscription: ReturnType<Simd23Client["subscribeSignatures"]> | undefined;
  const follow = async () => {
    while (following) {
      subscription = client.subscribeSignatures();
      try {
        for await (const update of subscription)
          records.get(update.signature)?.tracker.applySignatureUpdate(update);
      } catch {
        // The stream failed (an aggregator restart): polls cover the gap until it is open again.
      }
      if (following) await sleep(RESUBSCRIBE_DELAY_MS);
    }
  };
  const followed = follow();

  try {
    let blockhash = (await client.getLatestBlockhash()).blockhash;
    const payers =
      options.payerKeypairs ??
      Array.from({ length: positiveInteger(options.payers ?? 8, "payers") }, generateKeypair);
    if (payers.length === 0) throw new InvalidInputError("payerKeypairs is empty");
    const sink = generateKeypair().publicKey;
    const instructionsFor = (n: number): tx.Instruction[] => {
      const payer = n % payers.length;
      const nonce = memoInstruction(`simd23 load ${runId} ${n}`);
      if (kind === "memo") return [nonce];
      if (kind === "burn") return [burnComputeInstruction(burnUnits), nonce];
      const to = payers.length > 1 ? payers[(payer + 1) % payers.length]!.publicKey : sink;
      return [transferInstruction(0, to, 1n), nonce];
    };
    const build = (n: number): SignedTransaction =>
      client.sign({
        signers: [payers[n % payers.length]!],
        instructions: instructionsFor(n),
        computeUnitPrice,
        recentBlockhash: blockhash,
      });

    if (options.payerKeypairs === undefined) {
      // The last transaction carries the longest memo, so its cost bounds every other one's.
      const costEach = (() => {
        const sample = build(planned - 1);
        return sample.fee + sample.transferred;
      })();
      const share = BigInt(Math.ceil(planned / payers.length));
      await fundPayers(client, payers, options.fundLamports ?? share * costEach, settleTimeoutMs);
    }

    phase = "sending";
    phaseStartMs = Date.now();
    const stopRefreshing = keepBlockhashFresh(client, (fresh) => {
      blockhash = fresh;
    });
    const sendStartMs = Date.now();
    let lastAnswerMs = sendStartMs;
    let inFlight = 0;
    const answered: Promise<void>[] = [];
    const launch = (n: number) => {
      const transaction = build(n);
      const record: Sent = {
        sentAtMs: Date.now(),
        tracker: new StatusTracker(transaction.signature),
        accepted: false,
      };
      records.set(transaction.signature, record);
      order.push(transaction.signature);
      sent++;
      inFlight++;
      answered.push(
        client
          .sendTransaction(transaction)
          .then(
            () => {
              record.accepted = true;
              accepted++;
            },
            (error: Error) => {
              records.delete(transaction.signature);
              if (error instanceof TransactionRejectedError) increment(rejected, error.reason);
              else increment(failed, error.name);
            },
          )
          .finally(() => {
            inFlight--;
            lastAnswerMs = Date.now();
          }),
      );
    };
    const tickMs = Math.max(1, Math.min(10, Math.floor(1_000 / options.rate)));
    try {
      while (sent < planned && !options.signal?.aborted) {
        const due = Math.min(planned, Math.floor(((Date.now() - sendStartMs) * options.rate) / 1_000) + 1);
        while (sent < due && inFlight < maxInFlight) launch(sent);
        await sleep(tickMs);
      }
      await Promise.all(answered);
    } finally {
      stopRefreshing();
    }
    const sendDurationMs = Math.max(1, lastAnswerMs - sendStartMs);

    phase = "settling";
    phaseStartMs = Date.now();
    await settle(client, order, records, until, settleTimeoutMs);
    options.onProgress?.(progress());

    return report({
      options,
      planned,
      sent,
      accepted,
      rejected,
      failed,
      sendDurationMs,
      order,
      records,
      payers: payers.map((p) => encodeKey(p.publicKey)),
    });
  } finally {
    following = false;
    subscription?.close();
    if (progressTimer !== undefined) clearInterval(progressTimer);
    await followed;
  }
}

/** Funds each payer from the faucet and waits until every transfer executed successfully. */
async function fundPayers(
  client: Simd23Client,
  payers: readonly Keypair[],
  lamports: bigint,
  timeoutMs: number,
): Promise<void> {
  if (client.faucet === undefined)
    throw new ConfigurationError(
      "no faucet key to fund the load's fee payers (a devnet file holds the cluster seed)",
    );
  const sent = await Promise.all(payers.map((payer) => client.airdrop(payer.publicKey, lamports)));
  const statuses = await Promise.all(sent.map((s) => client.confirm(s.signature, "executed", { timeoutMs })));
  const failed = statuses.find((s) => s.result !== null && !s.result.ok);
  if (failed !== undefined)
    throw new Simd23Error(
      `funding a fee payer failed: transaction ${failed.signature}: ${failed.result!.status}`,
    );
}

/** Polls the statuses of accepted transactions that have not reached `until` (or dropped) until none remain or time runs out. */
async function settle(
  client: Simd23Client,
  order: readonly string[],
  records: ReadonlyMap<string, Sent>,
  until: ProgressLevelName,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pending = order.filter((signature) => {
      const record = records.get(signature);
      return (
        record?.accepted === true &&
        record.tracker.droppedReason === null &&
        record.tracker.timeOf(until) === undefined
      );
    });
    if (pending.length === 0 || Date.now() >= deadline) return;
    for (let i = 0; i < pending.length; i += STATUS_BATCH) {
      const batch = pending.slice(i, i + STATUS_BATCH);
      try {
        const statuses = await client.getSignatureStatuses(batch);
        for (const status of statuses) records.get(status.signature)?.tracker.applyTransactionStatus(status);
      } catch {
        // A failed poll is retried next round; the deadline bounds the wait.
      }
    }
    await sleep(Math.min(SETTLE_POLL_MS, Math.max(0, deadline - Date.now())));
  }
}

function report(run: {
  options: LoadOptions;
  planned: number;
  sent: number;
  accepted: number;
  rejected: Record<string, number>;
  failed: Record<string, number>;
  sendDurationMs: number;
  order: readonly string[];
  records: ReadonlyMap<string, Sent>;
  payers: readonly string[];
}): LoadReport {
  const samples = Object.fromEntries(PROGRESS_LEVEL_NAMES.map((l) => [l, [] as number[]])) as Record<
    ProgressLevelName,
    number[]
  >;
  const dropped: Record<string, number> = {};
  const results: Record<string, number> = {};
  const notExecuted: UnexecutedTransaction[] = [];
  for (const signature of run.order) {
    const record = run.records.get(signature);
    if (record === undefined || !record.accepted) continue;
    const { tracker } = record;
    for (const level of PROGRESS_LEVEL_NAMES) {
      const time = tracker.timeOf(level);
      if (time !== undefined) samples[level].push(Math.max(0, time - record.sentAtMs));
    }
    if (tracker.droppedReason !== null) increment(dropped, tracker.droppedReason);
    const result = tracker.executionResult;
    if (result !== null) increment(results, result.status);
    if (tracker.timeOf("executed") === undefined)
      notExecuted.push({ signature, level: tracker.level, droppedReason: tracker.droppedReason });
  }
  return {
    rate: run.options.rate,
    durationMs: run.options.durationMs,
    planned: run.planned,
    sent: run.sent,
    accepted: run.accepted,
    rejected: run.rejected,
    failed: run.failed,
    sendDurationMs: run.sendDurationMs,
    acceptedPerSecond: (run.accepted * 1_000) / run.sendDurationMs,
    levels: Object.fromEntries(PROGRESS_LEVEL_NAMES.map((l) => [l, latencySummary(samples[l])])) as Record<
      ProgressLevelName,
      LatencySummary
    >,
    dropped,
    results,
    notExecuted,
    payers: run.payers,
  };
}
