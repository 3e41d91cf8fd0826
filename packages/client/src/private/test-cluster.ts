import {
  Metadata,
  Server,
  ServerCredentials,
  type ServerWritableStream,
  type ServiceDefinition,
  type StatusObject,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { encodeKey, type Keypair, toHex } from "@simd23/core";
import {
  bankhashverifier,
  type control,
  executor,
  leader,
  proposer,
  tx,
  voteaggregator,
} from "@simd23/proto";

/**
 * Real gRPC servers implementing the roles' proto services with behaviour a test scripts, for
 * the SDK's and CLI's tests while the real roles are being written (never used by the SDK).
 */

export interface RunningServer {
  readonly address: string;
  close(): Promise<void>;
}

export async function startGrpcServer(
  services: readonly { definition: ServiceDefinition; implementation: UntypedServiceImplementation }[],
  port = 0,
): Promise<RunningServer> {
  const server = new Server();
  for (const { definition, implementation } of services) server.addService(definition, implementation);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (error, actual) =>
      error ? reject(error) : resolve(actual),
    ),
  );
  return {
    address: `127.0.0.1:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

/** A refusal as service-kit sends it: a status with the reason in the trailing `simd23-reason`. */
export function refusal(code: status, reason: string | undefined, message: string): Partial<StatusObject> {
  const metadata = new Metadata();
  if (reason !== undefined) metadata.set("simd23-reason", reason);
  return { code, details: message, metadata };
}

const Level = voteaggregator.ConfirmationLevel;

export type LevelStep = {
  readonly level: voteaggregator.ConfirmationLevel;
  readonly timeMs: number;
  readonly result?: control.TransactionResult;
  readonly droppedReason?: string;
};

/** A vote aggregator that serves the statuses a test drives with reach(). */
export class FakeAggregator {
  readonly statuses = new Map<string, voteaggregator.SignatureStatus>();
  private readonly streams = new Set<{
    call: ServerWritableStream<
      voteaggregator.SubscribeSignaturesRequest,
      voteaggregator.SubscribeSignaturesResponse
    >;
    filter: Set<string> | null;
  }>();
  cluster: voteaggregator.GetClusterStatusResponse = {
    slot: 0,
    optimisticSlot: 0,
    executedSlot: 0,
    finalizedSlot: 0,
    halted: false,
    halt: undefined,
    totalStake: 0n,
  };
  statusCalls = 0;
  subscribeCalls = 0;
  /** When set, GetSignatureStatuses fails with this. */
  failStatuses: Partial<StatusObject> | undefined;

  get subscribers(): number {
    return this.streams.size;
  }

  /** Records a level (and result or drop reason) and pushes it to the subscribers of the signature. */
  reach(signature: Uint8Array, step: LevelStep): void {
    const key = toHex(signature);
    const current = this.statuses.get(key) ?? {
      signature,
      found: true,
      levels: [],
      result: undefined,
      droppedReason: "",
    };
    const next: voteaggregator.SignatureStatus = {
      ...current,
      levels: [...current.levels, { level: step.level, timeMs: BigInt(step.timeMs) }],
      result: current.result ?? step.result,
      droppedReason: step.droppedReason ?? current.droppedReason,
    };
    this.statuses.set(key, next);
    for (const stream of this.streams)
      if (stream.filter === null || stream.filter.has(key))
        stream.call.write({
          signature,
          reached: { level: step.level, timeMs: BigInt(step.timeMs) },
          result: step.result,
          droppedReason: step.droppedReason ?? "",
        });
  }

  /** Ends every open stream, as an aggregator restart would. */
  endStreams(): void {
    for (const stream of this.streams) stream.call.end();
    this.streams.clear();
  }

  readonly service = {
    definition: voteaggregator.VoteAggregatorServiceService as unknown as ServiceDefinition,
    implementation: {
      getSignatureStatuses: (
        call: { request: voteaggregator.GetSignatureStatusesRequest },
        callback: (
          error: Partial<StatusObject> | null,
          response?: voteaggregator.GetSignatureStatusesResponse,
        ) => void,
      ) => {
        this.statusCalls++;
        if (this.failStatuses) return callback(this.failStatuses);
        callback(null, {
          statuses: call.request.signatures.map(
            (signature) =>
              this.statuses.get(toHex(signature)) ?? {
                signature,
                found: false,
                levels: [],
                result: undefined,
                droppedReason: "",
              },
          ),
        });
      },
      subscribeSignatures: (
        call: ServerWritableStream<
          voteaggregator.SubscribeSignaturesRequest,
          voteaggregator.SubscribeSignaturesResponse
        >,
      ) => {
        this.subscribeCalls++;
        const entry = {
          call,
          filter: call.request.signatures.length === 0 ? null : new Set(call.request.signatures.map(toHex)),
        };
        this.streams.add(entry);
        call.on("cancelled", () => this.streams.delete(entry));
        call.on("close", () => this.streams.delete(entry));
      },
      getClusterStatus: (
        _call: unknown,
        callback: (error: null, response: voteaggregator.GetClusterStatusResponse) => void,
      ) => callback(null, this.cluster),
    } as UntypedServiceImplementation,
  };
}

export type SubmitBehaviour = (
  transactions: readonly tx.Transaction[],
  self: FakeProposer,
) => Partial<StatusObject> | undefined;

/** A proposer that records what it is sent and answers as the test's behaviour says. */
export class FakeProposer {
  readonly submitted: tx.Transaction[][] = [];
  behaviour: SubmitBehaviour = () => undefined;
  statusCalls = 0;
  /** Delay before a submission is answered, to let a client's deadline pass. */
  answerDelayMs = 0;
  userBlockSlot = 10;
  queueDepth = 0;
  blockhash = new Uint8Array(32).fill(7);

  constructor(
    readonly identity: Keypair,
    /** The active set this proposer reports. */
    public active: () => readonly Uint8Array[],
  ) {}

  get identityText(): string {
    return encodeKey(this.identity.publicKey);
  }

  private accept(
    transactions: readonly tx.Transaction[],
  ): { ok: true } | { ok: false; error: Partial<StatusObject> } {
    this.submitted.push([...transactions]);
    const error = this.behaviour(transactions, this);
    return error === undefined ? { ok: true } : { ok: false, error };
  }

  readonly service = {
    definition: proposer.ProposerServiceService as unknown as ServiceDefinition,
    implementation: {
      submitTransaction: (
        call: { request: proposer.SubmitTransactionRequest },
        callback: (
          error: Partial<StatusObject> | null,
          response?: proposer.SubmitTransactionResponse,
        ) => void,
      ) => {
        const transaction = call.request.transaction!;
        const outcome = this.accept([transaction]);
        setTimeout(() => {
          if (!outcome.ok) return callback(outcome.error);
          callback(null, {
            signature: transaction.signatures[0]!,
            proposer: this.identity.publicKey,
            forwarded: false,
          });
        }, this.answerDelayMs);
      },
      submitBundle: (
        call: { request: proposer.SubmitBundleRequest },
        callback: (error: Partial<StatusObject> | null, response?: proposer.SubmitBundleResponse) => void,
      ) => {
        const transactions = call.request.bundle?.transactions ?? [];
        const outcome = this.accept(transactions);
        if (!outcome.ok) return callback(outcome.error);
        callback(null, {
          signatures: transactions.map((t) => t.signatures[0]!),
          proposer: this.identity.publicKey,
          forwarded: false,
        });
      },
      getUserBlock: (_call: unknown, callback: (error: Partial<StatusObject>) => void) =>
        callback({ code: status.NOT_FOUND, details: "no such block" }),
      getLatestBlockhash: (
        _call: unknown,
        callback: (error: null, response: proposer.GetLatestBlockhashResponse) => void,
      ) => callback(null, { blockhash: this.blockhash, slot: 5, lastValidSlot: 155 }),
      getProposerStatus: (
        _call: unknown,
        callback: (error: null, response: proposer.GetProposerStatusResponse) => void,
      ) => {
        this.statusCalls++;
        callback(null, {
          identity: this.identity.publicKey,
          userBlockSlot: this.userBlockSlot,
          scheduled: true,
          activeProposers: [...this.active()],
          queueDepth: this.queueDepth,
          halted: false,
        });
      },
    } as UntypedServiceImplementation,
  };
}

/** An executor serving balances from a map the test fills. */
export class FakeExecutor {
  readonly balances = new Map<string, bigint>();
  slot = 42;

  constructor(readonly validator: Uint8Array) {}

  readonly service = {
    definition: executor.ExecutorServiceService as unknown as ServiceDefinition,
    implementation: {
      getExecutorStatus: (
        _call: unknown,
        callback: (error: null, response: executor.GetExecutorStatusResponse) => void,
      ) =>
        callback(null, {
          validator: this.validator,
          votedSlot: this.slot + 3,
          executedSlot: this.slot,
          root: this.slot - 10,
          executionLagSlots: 3,
          halted: false,
          deadSlots: [],
          missingUserBlocks: 0,
        }),
      getAccount: (
        call: { request: executor.GetAccountRequest },
        callback: (error: null, response: executor.GetAccountResponse) => void,
      ) => {
        const lamports = this.balances.get(encodeKey(call.request.pubkey));
        callback(null, {
          pubkey: call.request.pubkey,
          lamports: lamports ?? 0n,
          exists: lamports !== undefined,
          slot: this.slot,
        });
      },
    } as UntypedServiceImplementation,
  };
}

/**
 * Drives a submitted transaction through every level on the aggregator, `stepMs` apart,
 * executing with `status` (OK by default): the pipeline the real roles will run.
 */
export function confirmLater(
  aggregator: FakeAggregator,
  transaction: tx.Transaction,
  proposerKey: Uint8Array,
  options: { stepMs?: number; status?: tx.ExecutionStatus; until?: voteaggregator.ConfirmationLevel } = {},
): void {
  const signature = transaction.signatures[0]!;
  const stepMs = options.stepMs ?? 5;
  const until = options.until ?? Level.CONFIRMATION_LEVEL_FINALIZED;
  const start = Date.now();
  const result: control.TransactionResult = {
    signature,
    status: options.status ?? tx.ExecutionStatus.EXECUTION_STATUS_OK,
    fee: 5_000n,
    slot: 7,
    userBlockSlot: 14,
    proposer: proposerKey,
  };
  for (let level = Level.CONFIRMATION_LEVEL_RECEIVED; level <= until; level++) {
    const delay = (level - 1) * stepMs;
    setTimeout(() => {
      aggregator.reach(signature, {
        level,
        timeMs: start + delay,
        ...(level >= Level.CONFIRMATION_LEVEL_EXECUTED ? { result } : {}),
      });
    }, delay);
  }
}

/** A bank-hash verifier reporting the status a test sets. */
export class FakeVerifier {
  status: bankhashverifier.GetVerifierStatusResponse = {
    executedSlot: 40,
    verifiedSlot: 40,
    halted: false,
    halt: undefined,
  };

  readonly service = {
    definition: bankhashverifier.BankHashVerifierServiceService as unknown as ServiceDefinition,
    implementation: {
      getVerifierStatus: (
        _call: unknown,
        callback: (error: null, response: bankhashverifier.GetVerifierStatusResponse) => void,
      ) => callback(null, this.status),
      getSlotTally: (_call: unknown, callback: (error: Partial<StatusObject>) => void) =>
        callback({ code: status.NOT_FOUND, details: "no tally" }),
    } as UntypedServiceImplementation,
  };
}

/** A leader reporting the status a test sets. */
export class FakeLeader {
  status: leader.GetLeaderStatusResponse;

  constructor(identity: Uint8Array) {
    this.status = {
      identity,
      slot: 45,
      leading: true,
      hashesPerSecond: 2_000_000n,
      tickDriftMs: 0.25,
      halted: false,
      lastProducedSlot: 45,
    };
  }

  readonly service = {
    definition: leader.LeaderServiceService as unknown as ServiceDefinition,
    implementation: {
      getLeaderStatus: (
        _call: unknown,
        callback: (error: null, response: leader.GetLeaderStatusResponse) => void,
      ) => callback(null, this.status),
      getSlot: (_call: unknown, callback: (error: null, response: leader.GetSlotResponse) => void) =>
        callback(null, { messages: [] }),
    } as UntypedServiceImplementation,
  };
}
