import { randomBytes } from "node:crypto";
import { encodeKey, type Keypair, memoInstruction, transferInstruction } from "@simd23/core";
import type { Simd23Client } from "../../packages/client/src/client.js";
import { TransactionRejectedError } from "../../packages/client/src/errors.js";
import { generateKeypair } from "../../packages/client/src/keys.js";

// A bounded, steady stream of transfers: fee payers in a ring each send 1 lamport to the next,
// with a memo that makes every transaction unique. Every submission is recorded with the schedule
// it was sent under and what the proposer answered, so the accounting checker can follow each one.

/** What became of one submission, as the client saw it. */
export type SubmitOutcome =
  /** A proposer acknowledged it: it must reach a terminal status. */
  | { readonly kind: "acknowledged"; readonly proposer: string | null }
  /** A typed refusal (`simd23-reason`): the proposer took nothing. */
  | { readonly kind: "rejected"; readonly reason: string }
  /** No answer (a connection error or a deadline): it may or may not have been taken. */
  | { readonly kind: "failed"; readonly error: string }
  | { readonly kind: "pending" };

export interface SentTransaction {
  readonly signature: string;
  /** The schedule it was sent under. */
  readonly schedule: string;
  readonly sentAtMs: number;
  readonly feePayer: string;
  /** The fee it pays when it executes. */
  readonly fee: bigint;
  outcome: SubmitOutcome;
}

export interface SteadyLoadOptions {
  /** Transactions per second. */
  readonly rate: number;
  /** Submissions waiting for an answer at once; the load stalls rather than queue without bound. */
  readonly maxInFlight: number;
}

const BLOCKHASH_REFRESH_MS = 1_000;

/**
 * Funds `count` new fee payers with `lamports` each in one transaction from the faucet (so each is
 * funded exactly once, whatever the retries), and waits until it executed.
 */
export async function fundPayers(
  client: Simd23Client,
  count: number,
  lamports: bigint,
  deadlineMs: number,
): Promise<Keypair[]> {
  const faucet = client.faucet;
  if (faucet === undefined) throw new Error("the devnet file holds no faucet key");
  const payers = Array.from({ length: count }, generateKeypair);
  const retry = async (error: unknown): Promise<void> => {
    if (Date.now() > deadlineMs) throw error;
    await new Promise((resolve) => setTimeout(resolve, 500));
  };
  let transaction: Awaited<ReturnType<Simd23Client["buildTransaction"]>> | undefined;
  while (transaction === undefined) {
    transaction = await client
      .buildTransaction({
        signers: [faucet],
        instructions: payers.map((payer) => transferInstruction(0, payer.publicKey, lamports)),
      })
      .catch(async (error: unknown) => {
        await retry(error);
        return undefined;
      });
  }
  // Proposers take transactions once they are scheduled: retry the same transaction until one does.
  for (;;) {
    try {
      await client.sendTransaction(transaction);
      break;
    } catch (error) {
      await retry(error);
    }
  }
  const status = await client.confirm(transaction.signature, "executed", {
    timeoutMs: Math.max(1_000, deadlineMs - Date.now()),
  });
  if (status.result?.ok !== true)
    throw new Error(`funding the fee payers executed with ${status.result?.status}`);
  return payers;
}

export class SteadyLoad {
  readonly sent = new Map<string, SentTransaction>();
  /** The schedule new transactions are sent under; undefined: sending is paused. */
  private schedule: string | undefined;
  private readonly runId = randomBytes(4).toString("hex");
  private sequence = 0;
  private inFlight = 0;
  private readonly answers = new Set<Promise<void>>();
  private blockhash: Uint8Array | undefined;
  private timer: NodeJS.Timeout | undefined;
  private refresher: NodeJS.Timeout | undefined;
  private windowStartMs = 0;
  private windowSent = 0;

  constructor(
    private readonly client: Simd23Client,
    private readonly payers: readonly Keypair[],
    private readonly options: SteadyLoadOptions,
  ) {}

  async start(): Promise<void> {
    this.blockhash = (await this.client.getLatestBlockhash()).blockhash;
    // A failed refresh keeps the previous blockhash: it stays valid for many slots.
    this.refresher = setInterval(() => {
      this.client.getLatestBlockhash().then(
        (fresh) => {
          this.blockhash = fresh.blockhash;
        },
        () => undefined,
      );
    }, BLOCKHASH_REFRESH_MS);
    this.timer = setInterval(() => this.tick(), 10);
  }

  /** Sends under `schedule` from now on. */
  resume(schedule: string): void {
    this.schedule = schedule;
    this.windowStartMs = Date.now();
    this.windowSent = 0;
  }

  /** Stops sending and waits for every submission in flight to be answered. */
  async pause(): Promise<void> {
    this.schedule = undefined;
    while (this.answers.size > 0) await Promise.all([...this.answers]);
  }

  async stop(): Promise<void> {
    await this.pause();
    clearInterval(this.timer);
    clearInterval(this.refresher);
  }

  of(schedule: string): SentTransaction[] {
    return [...this.sent.values()].filter((t) => t.schedule === schedule);
  }

  private tick(): void {
    const schedule = this.schedule;
    if (schedule === undefined || this.blockhash === undefined) return;
    const due = Math.floor(((Date.now() - this.windowStartMs) * this.options.rate) / 1_000) + 1;
    while (this.windowSent < due && this.inFlight < this.options.maxInFlight) {
      this.windowSent++;
      this.send(schedule, this.blockhash);
    }
  }

  private send(schedule: string, recentBlockhash: Uint8Array): void {
    const n = this.sequence++;
    const payer = this.payers[n % this.payers.length]!;
    const next = this.payers[(n + 1) % this.payers.length]!;
    const transaction = this.client.sign({
      signers: [payer],
      instructions: [
        transferInstruction(0, next.publicKey, 1n),
        memoInstruction(`simd23 faults ${this.runId} ${n}`),
      ],
      recentBlockhash,
    });
    const record: SentTransaction = {
      signature: transaction.signature,
      schedule,
      sentAtMs: Date.now(),
      feePayer: encodeKey(payer.publicKey),
      fee: transaction.fee,
      outcome: { kind: "pending" },
    };
    this.sent.set(record.signature, record);
    this.inFlight++;
    const answered = this.client.sendTransaction(transaction).then(
      (result) => {
        record.outcome = { kind: "acknowledged", proposer: result.proposer };
      },
      (error: Error) => {
        record.outcome =
          error instanceof TransactionRejectedError
            ? { kind: "rejected", reason: error.reason }
            : { kind: "failed", error: `${error.name}: ${error.message}` };
      },
    );
    const tracked = answered.finally(() => {
      this.inFlight--;
      this.answers.delete(tracked);
    });
    this.answers.add(tracked);
  }
}
