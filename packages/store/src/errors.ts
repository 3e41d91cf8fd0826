/**
 * Why a store operation failed.
 * - `DISCONNECTED`: the store is not connected (or the connection dropped while the operation was
 *   in flight: a write may or may not have been applied).
 * - `TIMEOUT`: the server did not answer within the command timeout.
 * - `CONFLICT`: an optimistic `update` lost to concurrent writers more times than it may retry.
 * - `CLOSED`: the store was closed by its owner.
 * - `DECODE`: stored bytes do not decode with the key's codec.
 * - `ENCODE`: the value cannot be encoded with the key's codec (nothing was written).
 * - `INVALID_ARGUMENT`: bad input, such as a non-integer TTL or an empty key name (nothing was written).
 * - `COMMAND`: the server rejected the command, such as an operation on a key of another type.
 */
export type StoreErrorCode =
  | "DISCONNECTED"
  | "TIMEOUT"
  | "CONFLICT"
  | "CLOSED"
  | "DECODE"
  | "ENCODE"
  | "INVALID_ARGUMENT"
  | "COMMAND";

export class StoreError extends Error {
  override readonly name = "StoreError";
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True when `error` is a StoreError (with the given code, when one is given). */
export function isStoreError(error: unknown, code?: StoreErrorCode): error is StoreError {
  return error instanceof StoreError && (code === undefined || error.code === code);
}
