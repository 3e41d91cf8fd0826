import { type ClientReadableStream, credentials } from "@grpc/grpc-js";
import {
  type BundleLimits,
  buildTransaction as buildCoreTransaction,
  DEFAULT_FEES,
  DEFAULT_LIMITS,
  decodePublicKey,
  encodeKey,
  type Fees,
  instructionComputeUnits,
  type Keypair,
  memoInstruction,
  SIGNATURE_COMPUTE_UNITS,
  TransactionError,
  toHex,
  transactionFee,
  transferInstruction,
} from "@simd23/core";
import { bankhashverifier, executor, leader, proposer, type tx, voteaggregator } from "@simd23/proto";
import {
  type Balance,
  type ClusterStatus,
  clusterStatusOf,
  type EndpointResult,
  type ExecutorStatus,
  executorStatusOf,
  type LeaderStatus,
  leaderStatusOf,
  type ProposerStatus,
  proposerStatusOf,
  type VerifierStatus,
  verifierStatusOf,
} from "./cluster.js";
import {
  ConfigurationError,
  ConnectionError,
  InsufficientBalanceError,
  InvalidInputError,
  TransactionRejectedError,
} from "./errors.js";
import { type PublicKeyLike, parsePublicKey, parseSignature } from "./keys.js";
import { waitForLevel } from "./private/confirm.js";
import { ProposerRouter } from "./private/routing.js";
import {
  CHANNEL_OPTIONS,
  callUnary,
  errorFromGrpc,
  submitErrorFromGrpc,
  type UnaryMethod,
} from "./private/rpc.js";
import {
  type ProgressLevelName,
  type SignatureUpdate,
  StatusTracker,
  signatureUpdateOf,
  type TransactionStatus,
} from "./status.js";

/** The gRPC endpoints (`host:port`) of a testnet's roles. */
export interface Endpoints {
  readonly proposers?: readonly string[];
  readonly voteAggregator?: string;
  readonly executors?: readonly string[];
  readonly bankHashVerifier?: string;
  readonly leaders?: readonly string[];
}

export interface ClientOptions extends Endpoints {
  /** The faucet's keypair, for airdrops (a devnet's derives from its cluster seed). */
  readonly faucet?: Keypair;
  /** The genesis limits transactions are checked against before sending (Solana's by default). */
  readonly limits?: BundleLimits;
  /** The genesis fees, for the fee a transaction will be charged (Solana's by default). */
  readonly fees?: Fees;
  /** The deadline of every call, ms (default 5,000). */
  readonly rpcTimeoutMs?: number;
  /** Attempts to hand a transaction to a proposer before giving up (default 4). */
  readonly sendAttempts?: number;
  /** How old the proposers' identities and active set may get before a send refreshes them, ms (default 5,000). */
  readonly routingRefreshMs?: number;
  /** How long a fetched blockhash is reused for new transactions, ms (default 1,000). */
  readonly blockhashMaxAgeMs?: number;
  /** How often confirm() polls besides listening to the stream, ms (default 1,000). */
  readonly pollIntervalMs?: number;
}

export interface Blockhash {
  readonly blockhash: Uint8Array;
  readonly slot: number;
  /** The last slot in which a transaction with this blockhash can execute. */
  readonly lastValidSlot: number;
}

/** What a transaction is made of; `signers[0]` pays the fee. */
export interface TransactionRequest {
  readonly signers: readonly Keypair[];
  readonly instructions: readonly tx.Instruction[];
  /** Priority fee rate, micro-lamports per compute unit (default 0). */
  readonly computeUnitPrice?: bigint | number;
  /** Default: exactly the compute units the transaction consumes (signatures and instructions). */
  readonly computeUnitLimit?: number;
  /** Default: a recent blockhash from a proposer. */
  readonly recentBlockhash?: Uint8Array;
}

/** A built and signed transaction, ready to send. */
export interface SignedTransaction {
  /** Its id: the first signature, base58. */
  readonly signature: string;
  /** The fee payer, base58. */
  readonly feePayer: string;
  readonly computeUnitLimit: number;
  readonly computeUnitPrice: bigint;
  /** Lamports the fee payer will be charged: base fee plus priority fee. */
  readonly fee: bigint;
  /** Lamports the transaction's transfers move out of the fee payer. */
  readonly transferred: bigint;
  readonly wire: tx.Transaction;
}

export interface SendResult {
  readonly signature: string;
  /** The proposer holding it (base58), as it reported; null when it was already known. */
  readonly proposer: string | null;
  /** Whether the endpoint forwarded it to the proposer its fee payer routes to. */
  readonly forwarded: boolean;
  /** The endpoint that accepted it. */
  readonly address: string;
  /** A retry found the transaction already held: an earlier attempt had delivered it. */
  readonly alreadyKnown: boolean;
}

export interface BundleSendResult extends Omit<SendResult, "signature"> {
  readonly signatures: readonly string[];
}

export interface TransferRequest {
  readonly from: Keypair;
  readonly to: PublicKeyLike;
  readonly lamports: bigint | number;
  readonly computeUnitPrice?: bigint | number;
  /** A memo carried with the transfer. */
  readonly memo?: string;
  /** Skip the balance check against an executor before sending (Solana's `skipPreflight`). */
  readonly skipPreflight?: boolean;
}

export interface ConfirmOptions {
  /** Give up after this long, ms (default 60,000). */
  readonly timeoutMs?: number;
  /** Called each time the status changes: every level as it is reached. */
  readonly onStatus?: (status: TransactionStatus) => void;
}

/** A live SubscribeSignatures stream; iterate it for updates, close it when done. */
export interface SignatureSubscription extends AsyncIterable<SignatureUpdate> {
  close(): void;
}

const DEFAULTS = {
  rpcTimeoutMs: 5_000,
  sendAttempts: 4,
  routingRefreshMs: 5_000,
  blockhashMaxAgeMs: 1_000,
  pollIntervalMs: 1_000,
  confirmTimeoutMs: 60_000,
};
const QUEUE_FULL_BACKOFF_MS = 100;
const RESUBSCRIBE_DELAY_MS = 500;

type GrpcClient = { close(): void };

/** A keyed set of lazily opened gRPC clients, one per address. */
class Channels<C extends GrpcClient> {
  private readonly clients = new Map<string, C>();
  constructor(private readonly open: (address: string) => C) {}
  get(address: string): C {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = this.open(address);
      this.clients.set(address, client);
    }
    return client;
  }
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

function lamportsOf(value: bigint | number, what: string): bigint {
  if (typeof value === "number" && !Number.isSafeInteger(value))
    throw new InvalidInputError(`${what} must be a whole number of lamports, got ${value}`);
  const lamports = BigInt(value);
  if (lamports < 0n || lamports > 0xffff_ffff_ffff_ffffn)
    throw new InvalidInputError(`${what} must be from 0 to 2^64-1 lamports, got ${lamports}`);
  return lamports;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A connection to one testnet: sends transactions to the proposer of their fee payer, follows
 * their confirmation at the vote aggregator, and reads balances from executors. gRPC channels
 * open on first use; close() releases them.
 */
export class Simd23Client {
  readonly endpoints: Required<Pick<Endpoints, "proposers" | "executors" | "leaders">> &
    Pick<Endpoints, "voteAggregator" | "bankHashVerifier">;
  readonly faucet: Keypair | undefined;
  readonly limits: BundleLimits;
  readonly fees: Fees;
  private readonly settings: typeof DEFAULTS;
  private readonly proposers = new Channels(
    (a) => new proposer.ProposerServiceClient(a, credentials.createInsecure(), CHANNEL_OPTIONS),
  );
  private readonly aggregators = new Channels(
    (a) => new voteaggregator.VoteAggregatorServiceClient(a, credentials.createInsecure(), CHANNEL_OPTIONS),
  );
  private readonly executors = new Channels(
    (a) => new executor.ExecutorServiceClient(a, credentials.createInsecure(), CHANNEL_OPTIONS),
  );
  private readonly verifiers = new Channels(
    (a) =>
      new bankhashverifier.BankHashVerifierServiceClient(a, credentials.createInsecure(), CHANNEL_OPTIONS),
  );
  private readonly leaders = new Channels(
    (a) => new leader.LeaderServiceClient(a, credentials.createInsecure(), CHANNEL_OPTIONS),
  );
  private readonly router: ProposerRouter;
  private blockhash: { value: Blockhash; fetchedAtMs: number } | undefined;
  private blockhashRequest: Promise<Blockhash> | undefined;

  constructor(options: ClientOptions) {
    this.endpoints = {
      proposers: [...new Set(options.proposers ?? [])],
      executors: [...new Set(options.executors ?? [])],
      leaders: [...new Set(options.leaders ?? [])],
      ...(options.voteAggregator === undefined ? {} : { voteAggregator: options.voteAggregator }),
      ...(options.bankHashVerifier === undefined ? {} : { bankHashVerifier: options.bankHashVerifier }),
    };
    this.faucet = options.faucet;
    this.limits = options.limits ?? DEFAULT_LIMITS;
    this.fees = options.fees ?? DEFAULT_FEES;
    this.settings = {
      rpcTimeoutMs: options.rpcTimeoutMs ?? DEFAULTS.rpcTimeoutMs,
      sendAttempts: Math.max(1, options.sendAttempts ?? DEFAULTS.sendAttempts),
      routingRefreshMs: options.routingRefreshMs ?? DEFAULTS.routingRefreshMs,
      blockhashMaxAgeMs: options.blockhashMaxAgeMs ?? DEFAULTS.blockhashMaxAgeMs,
      pollIntervalMs: options.pollIntervalMs ?? DEFAULTS.pollIntervalMs,
      confirmTimeoutMs: DEFAULTS.confirmTimeoutMs,
    };
    this.router = new ProposerRouter(
      this.endpoints.proposers,
      (address) => this.proposerCall(address, "GetProposerStatus", (c) => c.getProposerStatus.bind(c), {}),
      this.settings.routingRefreshMs,
    );
  }

  private requireProposers(): readonly string[] {
    if (this.endpoints.proposers.length === 0)
      throw new ConfigurationError("no proposer endpoint: name one (a devnet file lists them)");
    return this.endpoints.proposers;
  }

  private requireAggregator(): string {
    if (this.endpoints.voteAggregator === undefined)
      throw new ConfigurationError("no vote aggregator endpoint: name one (a devnet file lists it)");
    return this.endpoints.voteAggregator;
  }

  private proposerCall<Request, Response>(
    address: string,
    method: string,
    pick: (client: proposer.ProposerServiceClient) => UnaryMethod<Request, Response>,
    request: Request,
    mapError?: (error: unknown) => Error,
  ): Promise<Response> {
    return callUnary(
      address,
      method,
      pick(this.proposers.get(address)),
      request,
      this.settings.rpcTimeoutMs,
      mapError,
    );
  }

  private submitError(address: string, method: string, signature: string) {
    return (error: unknown) =>
      submitErrorFromGrpc(error, address, method, signature, this.settings.rpcTimeoutMs);
  }

  private aggregatorCall<Request, Response>(
    method: string,
    pick: (client: voteaggregator.VoteAggregatorServiceClient) => UnaryMethod<Request, Response>,
    request: Request,
  ): Promise<Response> {
    const address = this.requireAggregator();
    return callUnary(
      address,
      method,
      pick(this.aggregators.get(address)),
      request,
      this.settings.rpcTimeoutMs,
    );
  }

  // ---- blockhash and building ----

  /** A recent blockhash from the first proposer that answers. */
  async getLatestBlockhash(): Promise<Blockhash> {
    const addresses = this.requireProposers();
    const ordered = [
      ...addresses.filter((a) => !this.router.isUnreachable(a)),
      ...addresses.filter((a) => this.router.isUnreachable(a)),
    ];
    const failures: ConnectionError[] = [];
    for (const address of ordered) {
      try {
        const response = await this.proposerCall(
          address,
          "GetLatestBlockhash",
          (c) => c.getLatestBlockhash.bind(c),
          {},
        );
        return {
          blockhash: Uint8Array.from(response.blockhash),
          slot: response.slot,
          lastValidSlot: response.lastValidSlot,
        };
      } catch (error) {
        if (!(error instanceof ConnectionError)) throw error;
        this.router.markUnreachable(address);
        failures.push(error);
      }
    }
    throw new ConnectionError(
      failures.at(-1)!.address,
      failures.at(-1)!.detail,
      failures.map((f) => f.address),
    );
  }

  /** A blockhash no older than `blockhashMaxAgeMs`, shared by concurrent callers. */
  private async recentBlockhash(): Promise<Uint8Array> {
    const cached = this.blockhash;
    if (cached !== undefined && Date.now() - cached.fetchedAtMs < this.settings.blockhashMaxAgeMs)
      return cached.value.blockhash;
    this.blockhashRequest ??= this.getLatestBlockhash()
      .then((value) => {
        this.blockhash = { value, fetchedAtMs: Date.now() };
        return value;
      })
      .finally(() => {
        this.blockhashRequest = undefined;
      });
    return (await this.blockhashRequest).blockhash;
  }

  /**
   * Builds and signs a transaction against the client's limits; throws an InvalidInputError when
   * it breaks one (size, compute limit, shape).
   */
  async buildTransaction(request: TransactionRequest): Promise<SignedTransaction> {
    const recentBlockhash = request.recentBlockhash ?? (await this.recentBlockhash());
    return this.sign({ ...request, recentBlockhash });
  }

  /** Builds the transactions of a bundle; they must have distinct ids, at most `limits.maxBundleTransactions`. */
  async buildBundle(requests: readonly TransactionRequest[]): Promise<SignedTransaction[]> {
    if (requests.length === 0 || requests.length > this.limits.maxBundleTransactions)
      throw new InvalidInputError(
        `a bundle holds 1 to ${this.limits.maxBundleTransactions} transactions, got ${requests.length}`,
      );
    const recentBlockhash = await this.recentBlockhash();
    const transactions = requests.map((r) => this.sign({ recentBlockhash, ...r }));
    const first = new Map<string, number>();
    transactions.forEach((t, i) => {
      const earlier = first.get(t.signature);
      if (earlier !== undefined)
        throw new InvalidInputError(
          `transactions ${earlier} and ${i} of the bundle are identical (one id): make them differ, e.g. with a memo`,
        );
      first.set(t.signature, i);
    });
    return transactions;
  }

  /** Builds and signs with a given blockhash, synchronously (the load generator's hot path). */
  sign(request: TransactionRequest & { readonly recentBlockhash: Uint8Array }): SignedTransaction {
    if (request.signers.length === 0)
      throw new InvalidInputError("a transaction needs a signer to pay its fee");
    const computeUnitPrice = BigInt(request.computeUnitPrice ?? 0);
    if (computeUnitPrice < 0n) throw new InvalidInputError("computeUnitPrice cannot be negative");
    const computeUnitLimit =
      request.computeUnitLimit ??
      SIGNATURE_COMPUTE_UNITS * request.signers.length +
        request.instructions.reduce((sum, i) => sum + instructionComputeUnits(i), 0);
    let built: ReturnType<typeof buildCoreTransaction>;
    try {
      built = buildCoreTransaction(
        {
          recentBlockhash: request.recentBlockhash,
          computeUnitLimit,
          computeUnitPrice,
          instructions: request.instructions,
        },
        request.signers,
        this.limits,
      );
    } catch (error) {
      if (error instanceof TransactionError)
        throw new InvalidInputError(`cannot build the transaction: ${error.message}`);
      throw error;
    }
    let transferred = 0n;
    for (const instruction of request.instructions)
      if (instruction.kind?.$case === "transfer" && instruction.kind.value.fromSigner === 0)
        transferred += instruction.kind.value.lamports;
    return {
      signature: encodeKey(built.id),
      feePayer: encodeKey(built.feePayer),
      computeUnitLimit,
      computeUnitPrice,
      fee: transactionFee(built, this.fees).total,
      transferred,
      wire: built.wire,
    };
  }

  // ---- sending ----

  /**
   * Hands a transaction to the proposer its fee payer routes to, falling back to the others.
   * Retries (at most `sendAttempts` in all) when a proposer is unreachable or not scheduled
   * (after refreshing the routing view) or its queue is full (after a pause); throws a
   * TransactionRejectedError for any other refusal, a ConnectionError when no proposer answers.
   */
  async sendTransaction(transaction: SignedTransaction): Promise<SendResult> {
    const outcome = await this.submit(transaction.feePayer, (address) =>
      this.proposerCall(
        address,
        "SubmitTransaction",
        (c) => c.submitTransaction.bind(c),
        { transaction: transaction.wire, forwarded: false },
        this.submitError(address, "SubmitTransaction", transaction.signature),
      ),
    );
    return {
      signature: transaction.signature,
      proposer:
        outcome.response && outcome.response.proposer.length > 0
          ? encodeKey(outcome.response.proposer)
          : null,
      forwarded: outcome.response?.forwarded ?? false,
      address: outcome.address,
      alreadyKnown: outcome.response === null,
    };
  }

  /** Sends a bundle, routed by the fee payer of its first transaction, as sendTransaction. */
  async sendBundle(transactions: readonly SignedTransaction[]): Promise<BundleSendResult> {
    const first = transactions[0];
    if (first === undefined) throw new InvalidInputError("a bundle needs at least one transaction");
    const outcome = await this.submit(first.feePayer, (address) =>
      this.proposerCall(
        address,
        "SubmitBundle",
        (c) => c.submitBundle.bind(c),
        { bundle: { transactions: transactions.map((t) => t.wire) }, forwarded: false },
        this.submitError(address, "SubmitBundle", first.signature),
      ),
    );
    return {
      signatures: transactions.map((t) => t.signature),
      proposer:
        outcome.response && outcome.response.proposer.length > 0
          ? encodeKey(outcome.response.proposer)
          : null,
      forwarded: outcome.response?.forwarded ?? false,
      address: outcome.address,
      alreadyKnown: outcome.response === null,
    };
  }

  private async submit<Response>(
    feePayerText: string,
    invoke: (address: string) => Promise<Response>,
  ): Promise<{ response: Response | null; address: string }> {
    this.requireProposers();
    const feePayer = decodePublicKey(feePayerText);
    await this.router.ensureFresh();
    const unreachable = new Set<string>();
    let delivered = false;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < this.settings.sendAttempts; attempt++) {
      const candidates = this.router.candidates(feePayer);
      const address = candidates.find((a) => !unreachable.has(a));
      if (address === undefined) break;
      try {
        return { response: await invoke(address), address };
      } catch (caught) {
        const error = caught as Error;
        lastError = error;
        if (error instanceof ConnectionError) {
          unreachable.add(address);
          delivered ||= error.mayHaveArrived;
          this.router.markUnreachable(address);
          await this.router.refresh();
          continue;
        }
        if (!(error instanceof TransactionRejectedError)) throw error;
        if (error.reason === "DUPLICATE" && delivered) return { response: null, address };
        if (error.reason === "NOT_SCHEDULED") {
          await this.router.refresh();
          continue;
        }
        if (error.reason === "QUEUE_FULL") {
          await sleep(QUEUE_FULL_BACKOFF_MS * 2 ** attempt * (0.5 + Math.random()));
          continue;
        }
        throw error;
      }
    }
    if (lastError instanceof ConnectionError && unreachable.size > 0)
      throw new ConnectionError(lastError.address, lastError.detail, [...unreachable]);
    throw lastError ?? new ConnectionError(this.endpoints.proposers[0]!, "no proposer to try");
  }

  /** Throws an InsufficientBalanceError when an executor shows the payer cannot cover `required`. */
  private async preflight(payer: string, required: bigint): Promise<void> {
    if (this.endpoints.executors.length === 0) return;
    const balance = await this.getBalance(payer);
    if (balance.lamports < required)
      throw new InsufficientBalanceError(payer, balance.lamports, required, balance.slot);
  }

  /** Builds, checks (unless skipPreflight) and sends a transfer, with an optional memo. */
  async transfer(request: TransferRequest): Promise<SendResult> {
    const to = parsePublicKey(request.to);
    const lamports = lamportsOf(request.lamports, "the amount");
    const instructions = [transferInstruction(0, to, lamports)];
    if (request.memo !== undefined) instructions.push(memoInstruction(request.memo));
    const transaction = await this.buildTransaction({
      signers: [request.from],
      instructions,
      ...(request.computeUnitPrice === undefined ? {} : { computeUnitPrice: request.computeUnitPrice }),
    });
    if (!request.skipPreflight) await this.preflight(transaction.feePayer, transaction.fee + lamports);
    return this.sendTransaction(transaction);
  }

  /** A transfer from the faucet; throws a ConfigurationError when the faucet key is not known. */
  async airdrop(
    to: PublicKeyLike,
    lamports: bigint | number,
    options: { skipPreflight?: boolean } = {},
  ): Promise<SendResult> {
    if (this.faucet === undefined)
      throw new ConfigurationError("no faucet key: airdrops need the cluster seed (a devnet file holds it)");
    return this.transfer({ from: this.faucet, to, lamports, ...options });
  }

  // ---- confirmations ----

  /** The statuses of the given signatures, in the order asked. */
  async getSignatureStatuses(signatures: readonly (string | Uint8Array)[]): Promise<TransactionStatus[]> {
    const keys = signatures.map((s) => parseSignature(s));
    const wires = await this.signatureStatusesWire(keys);
    return keys.map((key, i) => {
      const tracker = new StatusTracker(encodeKey(key));
      const wire = wires[i];
      if (wire !== undefined) tracker.applyStatus(wire);
      return tracker.current;
    });
  }

  async getSignatureStatus(signature: string | Uint8Array): Promise<TransactionStatus> {
    return (await this.getSignatureStatuses([signature]))[0]!;
  }

  /** GetSignatureStatuses, matched to the request by signature (by position when the answer omits it). */
  private async signatureStatusesWire(
    signatures: readonly Uint8Array[],
  ): Promise<(voteaggregator.SignatureStatus | undefined)[]> {
    const response = await this.aggregatorCall(
      "GetSignatureStatuses",
      (c) => c.getSignatureStatuses.bind(c),
      {
        signatures: [...signatures],
      },
    );
    const bySignature = new Map(
      response.statuses.filter((s) => s.signature.length > 0).map((s) => [toHex(s.signature), s]),
    );
    return signatures.map((signature, i) => {
      const status = bySignature.get(toHex(signature)) ?? response.statuses[i];
      return status !== undefined &&
        (status.signature.length === 0 || toHex(status.signature) === toHex(signature))
        ? status
        : undefined;
    });
  }

  /**
   * Resolves with the status once the transaction reaches `level` (default `executed`, when its
   * result is known; check `status.result.ok`). Throws TransactionDroppedError if it is dropped,
   * ConfirmationTimeoutError after `timeoutMs`, ConnectionError if the aggregator cannot be reached.
   */
  async confirm(
    signature: string | Uint8Array,
    level: ProgressLevelName = "executed",
    options: ConfirmOptions = {},
  ): Promise<TransactionStatus> {
    const key = parseSignature(signature);
    const address = this.requireAggregator();
    return waitForLevel(
      encodeKey(key),
      level,
      {
        poll: async () => (await this.signatureStatusesWire([key]))[0],
        subscribe: () => this.aggregators.get(address).subscribeSignatures({ signatures: [key] }),
      },
      {
        timeoutMs: options.timeoutMs ?? this.settings.confirmTimeoutMs,
        pollIntervalMs: this.settings.pollIntervalMs,
        resubscribeDelayMs: RESUBSCRIBE_DELAY_MS,
        ...(options.onStatus === undefined ? {} : { onStatus: options.onStatus }),
      },
    );
  }

  /**
   * Every level the given signatures reach, as they reach it; with none given, every
   * transaction's. Iteration ends when close() is called and throws a typed error when the
   * stream fails (a ConnectionError when the aggregator cannot be reached).
   */
  subscribeSignatures(signatures: readonly (string | Uint8Array)[] = []): SignatureSubscription {
    const address = this.requireAggregator();
    const call: ClientReadableStream<voteaggregator.SubscribeSignaturesResponse> = this.aggregators
      .get(address)
      .subscribeSignatures({ signatures: signatures.map((s) => parseSignature(s)) });
    let closed = false;
    const timeoutMs = this.settings.rpcTimeoutMs;
    return {
      close() {
        closed = true;
        call.cancel();
      },
      async *[Symbol.asyncIterator]() {
        try {
          for await (const message of call as AsyncIterable<voteaggregator.SubscribeSignaturesResponse>) {
            const update = signatureUpdateOf(message);
            if (update !== null) yield update;
          }
        } catch (error) {
          if (closed) return;
          throw errorFromGrpc(error, address, "SubscribeSignatures", timeoutMs);
        } finally {
          if (!closed) {
            closed = true;
            call.cancel();
          }
        }
      },
    };
  }

  // ---- state ----

  /**
   * An account's balance at the newest slot any executor executed: every executor is asked
   * and the answer for the highest slot wins.
   */
  async getBalance(account: PublicKeyLike): Promise<Balance> {
    const pubkey = parsePublicKey(account);
    const results = await this.eachEndpoint(this.endpoints.executors, "executor", (address) => {
      const client = this.executors.get(address);
      return callUnary(
        address,
        "GetAccount",
        client.getAccount.bind(client),
        { pubkey },
        this.settings.rpcTimeoutMs,
      );
    });
    let best: Balance | undefined;
    for (const result of results) {
      if (!result.ok) continue;
      const { value } = result;
      if (best === undefined || value.slot > best.slot)
        best = {
          pubkey: encodeKey(pubkey),
          lamports: value.lamports,
          exists: value.exists,
          slot: value.slot,
          address: result.address,
        };
    }
    if (best === undefined) throw this.allFailed(results);
    return best;
  }

  async getClusterStatus(): Promise<ClusterStatus> {
    return clusterStatusOf(
      await this.aggregatorCall("GetClusterStatus", (c) => c.getClusterStatus.bind(c), {}),
    );
  }

  async getProposerStatuses(): Promise<EndpointResult<ProposerStatus>[]> {
    const results = await this.eachEndpoint(this.requireProposers(), "proposer", (address) =>
      this.proposerCall(address, "GetProposerStatus", (c) => c.getProposerStatus.bind(c), {}),
    );
    return results.map((r) => (r.ok ? { ...r, value: proposerStatusOf(r.value) } : r));
  }

  async getExecutorStatuses(): Promise<EndpointResult<ExecutorStatus>[]> {
    const results = await this.eachEndpoint(this.endpoints.executors, "executor", (address) => {
      const client = this.executors.get(address);
      return callUnary(
        address,
        "GetExecutorStatus",
        client.getExecutorStatus.bind(client),
        {},
        this.settings.rpcTimeoutMs,
      );
    });
    return results.map((r) => (r.ok ? { ...r, value: executorStatusOf(r.value) } : r));
  }

  async getLeaderStatuses(): Promise<EndpointResult<LeaderStatus>[]> {
    const results = await this.eachEndpoint(this.endpoints.leaders, "leader", (address) => {
      const client = this.leaders.get(address);
      return callUnary(
        address,
        "GetLeaderStatus",
        client.getLeaderStatus.bind(client),
        {},
        this.settings.rpcTimeoutMs,
      );
    });
    return results.map((r) => (r.ok ? { ...r, value: leaderStatusOf(r.value) } : r));
  }

  async getVerifierStatus(): Promise<VerifierStatus> {
    const address = this.endpoints.bankHashVerifier;
    if (address === undefined)
      throw new ConfigurationError("no bank-hash verifier endpoint: name one (a devnet file lists it)");
    const client = this.verifiers.get(address);
    return verifierStatusOf(
      await callUnary(
        address,
        "GetVerifierStatus",
        client.getVerifierStatus.bind(client),
        {},
        this.settings.rpcTimeoutMs,
      ),
    );
  }

  private async eachEndpoint<T>(
    addresses: readonly string[],
    role: string,
    call: (address: string) => Promise<T>,
  ): Promise<EndpointResult<T>[]> {
    if (addresses.length === 0)
      throw new ConfigurationError(`no ${role} endpoint: name one (a devnet file lists them)`);
    const settled = await Promise.allSettled(addresses.map(call));
    return settled.map((result, i) =>
      result.status === "fulfilled"
        ? { address: addresses[i]!, ok: true as const, value: result.value }
        : { address: addresses[i]!, ok: false as const, error: result.reason as Error },
    );
  }

  private allFailed(results: readonly EndpointResult<unknown>[]): Error {
    const errors = results.flatMap((r) => (r.ok ? [] : [r.error]));
    const connection = errors.filter((e): e is ConnectionError => e instanceof ConnectionError);
    if (connection.length === errors.length && connection.length > 0)
      return new ConnectionError(
        connection.at(-1)!.address,
        connection.at(-1)!.detail,
        connection.map((e) => e.address),
      );
    return errors.find((e) => !(e instanceof ConnectionError)) ?? errors[0]!;
  }

  /** Closes every channel; pending calls fail and subscriptions end. */
  close(): void {
    for (const channels of [this.proposers, this.aggregators, this.executors, this.verifiers, this.leaders])
      channels.close();
  }
}

/** A client for the testnet at these endpoints; channels open on first use. */
export function connect(options: ClientOptions): Simd23Client {
  return new Simd23Client(options);
}
