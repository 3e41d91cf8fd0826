import {
  type CallOptions,
  type ClientOptions,
  type ClientUnaryCall,
  Metadata,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { ConnectionError, RpcError, type Simd23Error, TransactionRejectedError } from "../errors.js";

/** The trailing metadata key in which a server names why it refused (service-kit sets it). */
export const REASON_METADATA_KEY = "simd23-reason";

/**
 * Reconnect quickly after an endpoint restarts: grpc-js waits up to 120 s between attempts by
 * default, far longer than a devnet role takes to come back.
 */
export const CHANNEL_OPTIONS: Partial<ClientOptions> = {
  "grpc.initial_reconnect_backoff_ms": 200,
  "grpc.max_reconnect_backoff_ms": 2_000,
};

/** A ts-proto grpc-js client method, bound to its client. */
export type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Response) => void,
) => ClientUnaryCall;

/** What a gRPC failure carried: its code, the server's message and its `simd23-reason`. */
export interface GrpcFailure {
  readonly code: number;
  readonly details: string;
  readonly reason: string | undefined;
}

export function readGrpcFailure(error: unknown): GrpcFailure | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, details, metadata } = error as { code?: unknown; details?: unknown; metadata?: unknown };
  if (typeof code !== "number" || code === status.OK) return undefined;
  const values = metadata instanceof Metadata ? metadata.get(REASON_METADATA_KEY) : [];
  const reason = typeof values[0] === "string" && values[0].length > 0 ? values[0] : undefined;
  return {
    code,
    details: typeof details === "string" ? details : error instanceof Error ? error.message : "",
    reason,
  };
}

/** Why a connection failed, in a few words, from grpc-js's long `details`. */
export function describeConnectionFailure(details: string): string {
  if (/ECONNREFUSED/.test(details)) return "connection refused";
  if (/ENOTFOUND|EAI_AGAIN|Name resolution failed/i.test(details)) return "unknown host";
  if (/EHOSTUNREACH|ENETUNREACH/.test(details)) return "host unreachable";
  if (/ECONNRESET/.test(details)) return "connection reset";
  return details.split("\n")[0] || "unavailable";
}

/**
 * The typed error for a failed call: an unreachable or silent endpoint is a ConnectionError
 * naming the address; anything else an RpcError with the method, code and reason.
 */
export function errorFromGrpc(
  error: unknown,
  address: string,
  method: string,
  timeoutMs: number,
): Simd23Error {
  const failure = readGrpcFailure(error);
  if (failure === undefined)
    return new RpcError(address, method, status.UNKNOWN, "UNKNOWN", String(error), undefined);
  if (failure.code === status.UNAVAILABLE && failure.reason === undefined) {
    const detail = describeConnectionFailure(failure.details);
    const neverSent =
      detail === "connection refused" || detail === "unknown host" || detail === "host unreachable";
    return new ConnectionError(address, detail, undefined, !neverSent);
  }
  if (failure.code === status.DEADLINE_EXCEEDED)
    return new ConnectionError(address, `no answer within ${timeoutMs} ms`, undefined, true);
  return new RpcError(
    address,
    method,
    failure.code,
    status[failure.code] ?? String(failure.code),
    failure.details,
    failure.reason,
  );
}

/**
 * The typed error for a failed SubmitTransaction/SubmitBundle: a refusal with a
 * `simd23-reason` is a TransactionRejectedError carrying it; the rest as errorFromGrpc.
 */
export function submitErrorFromGrpc(
  error: unknown,
  address: string,
  method: string,
  signature: string,
  timeoutMs: number,
): Simd23Error {
  const failure = readGrpcFailure(error);
  if (failure?.reason !== undefined)
    return new TransactionRejectedError(signature, failure.reason, address, failure.details);
  if (failure?.code === status.INVALID_ARGUMENT)
    return new TransactionRejectedError(signature, "UNKNOWN", address, failure.details);
  return errorFromGrpc(error, address, method, timeoutMs);
}

/** One unary call with a deadline; failures are mapped by `mapError` (errorFromGrpc by default). */
export function callUnary<Request, Response>(
  address: string,
  method: string,
  invoke: UnaryMethod<Request, Response>,
  request: Request,
  timeoutMs: number,
  mapError: (error: unknown) => Error = (error) => errorFromGrpc(error, address, method, timeoutMs),
): Promise<Response> {
  return new Promise((resolve, reject) => {
    invoke(request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
      if (error) reject(mapError(error));
      else resolve(response);
    });
  });
}
