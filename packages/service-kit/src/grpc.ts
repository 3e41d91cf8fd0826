import {
  type CallOptions,
  type ClientUnaryCall,
  type handleServerStreamingCall,
  type handleUnaryCall,
  Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
  status,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { tx } from "@simd23/proto";

export { status as GrpcStatus } from "@grpc/grpc-js";

/** The trailing metadata key that carries a machine-readable refusal reason. */
export const REASON_METADATA_KEY = "simd23-reason";

const REJECT_REASON_PREFIX = "REJECT_REASON_";
const REASON_NAME = /^[A-Z][A-Z0-9_]*$/;

/** The wire name of a RejectReason: its enum name without the `REJECT_REASON_` prefix. */
export function rejectReasonName(reason: tx.RejectReason): string {
  const name = tx.rejectReasonToJSON(reason);
  if (!name.startsWith(REJECT_REASON_PREFIX) || reason === tx.RejectReason.REJECT_REASON_UNSPECIFIED) {
    throw new TypeError(`not a reason to refuse with: ${name}`);
  }
  return name.slice(REJECT_REASON_PREFIX.length);
}

/**
 * A refusal a handler raises on purpose: a gRPC status code, a machine-readable reason (a
 * RejectReason, or an UPPER_SNAKE_CASE name for refusals outside transaction intake) sent in
 * the trailing metadata key `simd23-reason`, and a message for humans. Throw it from a
 * `unary`/`serverStream` handler, or pass it to a grpc-js callback as the error.
 */
export class RpcRejection extends Error {
  override readonly name = "RpcRejection";
  readonly reason: string;
  /** Read by grpc-js when it turns the error into a status. */
  readonly details: string;
  readonly metadata: Metadata;

  constructor(
    readonly code: status,
    reason: tx.RejectReason | string,
    message: string,
  ) {
    super(message);
    if (code === status.OK) throw new TypeError("a rejection cannot have status OK");
    this.reason = typeof reason === "string" ? reason : rejectReasonName(reason);
    if (!REASON_NAME.test(this.reason))
      throw new TypeError(`reason ${JSON.stringify(reason)}: use UPPER_SNAKE_CASE`);
    this.details = message;
    this.metadata = new Metadata();
    this.metadata.set(REASON_METADATA_KEY, this.reason);
  }
}

/** A refusal as a client sees it. */
export interface Rejection {
  readonly code: status;
  /** The `simd23-reason` name, when the server sent one. */
  readonly reason: string | undefined;
  /** The reason as a RejectReason, when it is one. */
  readonly rejectReason: tx.RejectReason | undefined;
  readonly message: string;
}

/** Reads a gRPC error back into code, reason and message; undefined for anything that is not a gRPC error. */
export function readRejection(error: unknown): Rejection | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, details, metadata } = error as { code?: unknown; details?: unknown; metadata?: unknown };
  if (typeof code !== "number" || !(code in status) || code === status.OK) return undefined;
  const values = metadata instanceof Metadata ? metadata.get(REASON_METADATA_KEY) : [];
  const reason = typeof values[0] === "string" ? values[0] : undefined;
  const parsed =
    reason === undefined ? undefined : tx.rejectReasonFromJSON(`${REJECT_REASON_PREFIX}${reason}`);
  return {
    code,
    reason,
    rejectReason:
      parsed === undefined ||
      parsed === tx.RejectReason.UNRECOGNIZED ||
      parsed === tx.RejectReason.REJECT_REASON_UNSPECIFIED
        ? undefined
        : parsed,
    message: typeof details === "string" ? details : error instanceof Error ? error.message : "",
  };
}

/**
 * A unary handler written as an async function: its result is the response, a thrown
 * RpcRejection becomes its status, and anything else thrown becomes INTERNAL and is logged.
 */
export function unary<Request, Response>(
  handler: (request: Request, call: ServerUnaryCall<Request, Response>) => Promise<Response> | Response,
): handleUnaryCall<Request, Response> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => handler(call.request, call))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(asCallError(error)),
      );
  };
}

/**
 * A server-streaming handler written as an async function that writes to `call`: the stream
 * ends when it returns; a thrown RpcRejection becomes its status. Long-lived streams should end
 * when the service's `shutdownSignal` aborts, or they hold the shutdown up to its deadline.
 */
export function serverStream<Request, Response>(
  handler: (request: Request, call: ServerWritableStream<Request, Response>) => Promise<void> | void,
): handleServerStreamingCall<Request, Response> {
  return (call) => {
    Promise.resolve()
      .then(() => handler(call.request, call))
      .then(
        () => {
          if (!call.writableEnded) call.end();
        },
        (error: unknown) => {
          call.emit("error", asCallError(error));
        },
      );
  };
}

/** A gRPC service definition (generated by ts-proto) and its implementation, to register. */
export interface GrpcServiceRegistration {
  readonly definition: ServiceDefinition;
  readonly implementation: UntypedServiceImplementation;
}

/** Pairs a generated service definition with its implementation, checking the types match. */
export function grpcService<Implementation extends UntypedServiceImplementation>(
  definition: ServiceDefinition<Implementation>,
  implementation: Implementation,
): GrpcServiceRegistration {
  return { definition, implementation };
}

/** A unary method of a generated grpc-js client, in its full form (request, metadata, options, callback). */
export type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Response) => void,
) => ClientUnaryCall;

/**
 * Calls a unary method of a grpc-js client and resolves with its response (rejects with the
 * ServiceError; `readRejection` reads a typed refusal back). Pass the method bound to its client:
 * `callUnary(client.getStatus.bind(client), {}, { timeoutMs: 2_000 })`.
 */
export function callUnary<Request, Response>(
  method: UnaryMethod<Request, Response>,
  request: Request,
  options: { readonly timeoutMs?: number; readonly metadata?: Metadata } = {},
): Promise<Response> {
  const callOptions: Partial<CallOptions> =
    options.timeoutMs === undefined ? {} : { deadline: new Date(Date.now() + options.timeoutMs) };
  return new Promise((resolve, reject) => {
    method(request, options.metadata ?? new Metadata(), callOptions, (error, response) =>
      error === null ? resolve(response) : reject(error),
    );
  });
}

function asCallError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
