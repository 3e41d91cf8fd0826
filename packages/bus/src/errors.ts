/**
 * Why a bus operation failed. Callers branch on the code, never on the message.
 *
 * - `DISCONNECTED`: the server is away; the operation was not done (a publish may or may not
 *   have been stored: retry with the same `msgId` to store it exactly once).
 * - `TIMEOUT`: no answer in time (same caveat for publishes).
 * - `STREAM_NOT_FOUND`: no stream stores that subject (or the stream was deleted).
 * - `CLOSED`: the bus was closed.
 * - `NO_RESPONDERS`: a request found no `serve` handler for its subject.
 * - `HANDLER_ERROR`: the remote `serve` handler threw; the message is the handler's.
 * - `INVALID_ARGUMENT`: bad subject, header, option or payload; nothing was sent.
 * - `REJECTED`: the server refused the operation (for example a JetStream API error).
 */
export type BusErrorCode =
  | "DISCONNECTED"
  | "TIMEOUT"
  | "STREAM_NOT_FOUND"
  | "CLOSED"
  | "NO_RESPONDERS"
  | "HANDLER_ERROR"
  | "INVALID_ARGUMENT"
  | "REJECTED";

export class BusError extends Error {
  override readonly name = "BusError";
  readonly code: BusErrorCode;

  constructor(code: BusErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** True when `error` is a BusError (with the given code, if one is given). */
export function isBusError(error: unknown, code?: BusErrorCode): error is BusError {
  return error instanceof BusError && (code === undefined || error.code === code);
}
