import { randomBytes } from "node:crypto";
import {
  type Keypair,
  keepBlockhashFresh,
  memoInstruction,
  type ProgressLevelName,
  type SignatureSubscription,
  type Simd23Client,
  TransactionRejectedError,
  transferInstruction,
} from "@simd23/client";
import { sleep } from "./harness.js";

// The cluster bench's load: transfers sent open-loop at a fixed rate through the SDK (each to
// the proposer its fee payer routes to), every level of every transaction taken from one
// SubscribeSignatures stream that stays open for the devnet's whole life. Unlike `simd23 load`,
// it keeps each transaction's own times, so a point's throughput is measured from the times
// transactions executed, and a later point can start while nothing of an earlier one is pending.

export const MEASURED_LEVELS = ["recorded", "optimistic", "executed", "finalized"] as const;
export type MeasuredLevel = (typeof MEASURED_LEVELS)[number];

export interface SentTransaction {
  readonly signature: string;
  /** Client clock when it was handed to the SDK, ms since the epoch. */
  readonly sentAtMs: number;
  /** Client clock when the proposer's answer arrived (durably stored, or refused). */
  answeredAtMs: number | null;
  accepted: boolean;
  /** The aggregator's time of each level reached (implied levels carry the time of the level reached). */
  readonly levels: Partial<Record<ProgressLevelName, number>>;
  droppedReason: string | null;
  /** `ok` or the error name, once executed. */
  result: string | null;
}

export interface SentPoint {
  readonly rate: number;
  readonly transactions: SentTransaction[];
  readonly refused: Record<string, number>;
  readonly failed: Record<string, number>;
  readonly firstSentMs: number;
  readonly lastAnswerMs: number;
}

const MAX_IN_FLIGHT = 512;
const STATUS_BATCH = 256;

const increment = (counts: Record<string, number>, key: string) => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/** Funds the payers from the faucet and waits until every transfer executed successfully. */
export async function fundPayers(
  client: Simd23Client,
  payers: readonly Keypair[],
  lamports: bigint,
): Promise<void> {
  const sent = await Promise.all(
    payers.map((payer) => client.airdrop(payer.publicKey, lamports, { skipPreflight: true })),
  );
  const statuses = await Promise.all(
    sent.map((s) => client.confirm(s.signature, "executed", { timeoutMs: 60_000 })),
  );
  const failed = statuses.find((status) => status.result !== null && !status.result.ok);
  if (failed !== undefined) throw new Error(`funding a fee payer failed: ${failed.result?.status}`);
}

export class LoadDriver {
  private readonly bySignature = new Map<string, SentTransaction>();
  private subscription: SignatureSubscription | undefined;
  private following = true;
  private readonly followed: Promise<void>;
  private readonly runId = randomBytes(4).toString("hex");
  private sequence = 0;

  /** `follower` holds the subscription; its aggregator must stay the same for the driver's life. */
  constructor(
    private readonly follower: Simd23Client,
    private readonly payers: readonly Keypair[],
  ) {
    this.followed = this.follow();
  }

  private async follow(): Promise<void> {
    while (this.following) {
      this.subscription = this.follower.subscribeSignatures();
      try {
        for await (const update of this.subscription) {
          const sent = this.bySignature.get(update.signature);
          if (sent === undefined) continue;
          if (update.level === "dropped") sent.droppedReason ??= update.droppedReason ?? "dropped";
          else sent.levels[update.level] ??= update.timeMs;
          if (update.result !== null) sent.result ??= update.result.status;
        }
      } catch {
        // The stream broke (an aggregator restart): settle() polls what is still pending.
      }
      if (this.following) await sleep(250);
    }
  }

  /**
   * Sends rate × seconds transfers on a fixed schedule (open loop: a slow answer does not slow
   * the schedule, up to MAX_IN_FLIGHT waiting), each 1 lamport from a payer to the next with a
   * unique memo, priority fee rates spread over 16 levels.
   */
  async send(client: Simd23Client, rate: number, seconds: number, signal: AbortSignal): Promise<SentPoint> {
    const planned = Math.round(rate * seconds);
    const transactions: SentTransaction[] = [];
    const refused: Record<string, number> = {};
    const failed: Record<string, number> = {};
    let blockhash = (await client.getLatestBlockhash()).blockhash;
    const stopRefreshing = keepBlockhashFresh(client, (fresh) => {
      blockhash = fresh;
    });
    let inFlight = 0;
    let lastAnswerMs = 0;
    const answers: Promise<void>[] = [];
    const launch = () => {
      const n = this.sequence++;
      const payer = this.payers[n % this.payers.length]!;
      const next = this.payers[(n + 1) % this.payers.length]!;
      const signed = client.sign({
        signers: [payer],
        instructions: [
          transferInstruction(0, next.publicKey, 1n),
          memoInstruction(`simd23 bench ${this.runId} ${n}`),
        ],
        computeUnitPrice: BigInt((n % 16) * 1_000),
        recentBlockhash: blockhash,
      });
      const sent: SentTransaction = {
        signature: signed.signature,
        sentAtMs: Date.now(),
        answeredAtMs: null,
        accepted: false,
        levels: {},
        droppedReason: null,
        result: null,
      };
      // Registered before sending: its first levels may arrive before the answer does.
      this.bySignature.set(sent.signature, sent);
      transactions.push(sent);
      inFlight++;
      answers.push(
        client
          .sendTransaction(signed)
          .then(
            () => {
              sent.accepted = true;
            },
            (error: Error) => {
              this.bySignature.delete(sent.signature);
              if (error instanceof TransactionRejectedError) increment(refused, error.reason);
              else increment(failed, error.name);
            },
          )
          .finally(() => {
            inFlight--;
            lastAnswerMs = Date.now();
            sent.answeredAtMs = lastAnswerMs;
          }),
      );
    };
    const firstSentMs = Date.now();
    try {
      while (transactions.length < planned && !signal.aborted) {
        const due = Math.min(planned, Math.floor(((Date.now() - firstSentMs) * rate) / 1_000) + 1);
        while (transactions.length < due && inFlight < MAX_IN_FLIGHT) launch();
        await sleep(Math.max(1, Math.min(10, Math.floor(1_000 / rate))));
      }
      await Promise.all(answers);
    } finally {
      stopRefreshing();
    }
    signal.throwIfAborted();
    return {
      rate,
      transactions,
      refused,
      failed,
      firstSentMs,
      lastAnswerMs,
    };
  }

  /**
   * Waits until every accepted transaction of the point reached `level` or was dropped, or until
   * timeoutMs; when the stream brings nothing new for 2 s, polls the statuses still pending.
   * Resolves true when none is pending, false on timeout.
   */
  async settle(
    point: SentPoint,
    level: MeasuredLevel,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let lastPending = -1;
    let quietSince = Date.now();
    for (;;) {
      const pending = point.transactions.filter(
        (t) => t.accepted && t.droppedReason === null && t.levels[level] === undefined,
      );
      if (pending.length === 0) return true;
      if (Date.now() >= deadline) return false;
      if (pending.length !== lastPending) {
        lastPending = pending.length;
        quietSince = Date.now();
      } else if (Date.now() - quietSince >= 2_000) {
        await this.poll(pending.slice(0, 4 * STATUS_BATCH));
        quietSince = Date.now();
      }
      await sleep(100, signal);
    }
  }

  /** Fills in every level the stream did not bring, from the status index. */
  async sweep(point: SentPoint): Promise<void> {
    const incomplete = point.transactions.filter(
      (t) =>
        t.accepted &&
        t.droppedReason === null &&
        (MEASURED_LEVELS.some((level) => t.levels[level] === undefined) || t.result === null),
    );
    await this.poll(incomplete);
  }

  private async poll(transactions: readonly SentTransaction[]): Promise<void> {
    for (let i = 0; i < transactions.length; i += STATUS_BATCH) {
      const batch = transactions.slice(i, i + STATUS_BATCH);
      try {
        const statuses = await this.follower.getSignatureStatuses(batch.map((t) => t.signature));
        statuses.forEach((status, j) => {
          const sent = batch[j]!;
          for (const [level, time] of Object.entries(status.levels)) {
            if (level === "dropped") sent.droppedReason ??= status.droppedReason ?? "dropped";
            else sent.levels[level as ProgressLevelName] ??= time;
          }
          if (status.result !== null) sent.result ??= status.result.status;
        });
      } catch {
        // A failed poll is retried by the next settle round; a sweep leaves the gap counted.
      }
    }
  }

  /** Forgets a point's transactions (their updates are no longer needed). */
  forget(point: SentPoint): void {
    for (const t of point.transactions) this.bySignature.delete(t.signature);
  }

  async close(): Promise<void> {
    this.following = false;
    this.subscription?.close();
    await this.followed;
  }
}
