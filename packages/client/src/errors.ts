import type { TransactionStatus } from "./status.js";

/** Every error the SDK raises on purpose; `instanceof Simd23Error` tells them from bugs. */
export class Simd23Error extends Error {
  override name = "Simd23Error";
}

/** Input the caller gave cannot be used: a malformed key, signature, amount or address. */
export class InvalidInputError extends Simd23Error {
  override name = "InvalidInputError";
}

/** The client lacks what an operation needs: no endpoint for a role, or no faucet key. */
export class ConfigurationError extends Simd23Error {
  override name = "ConfigurationError";
}

/** A keypair file that cannot be read, parsed or written. */
export class KeypairFileError extends Simd23Error {
  override name = "KeypairFileError";
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

/** A devnet file that is missing, malformed or describes a devnet that is gone. */
export class DevnetFileError extends Simd23Error {
  override name = "DevnetFileError";
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`${path}: ${detail}`);
  }
}

/**
 * An endpoint did not answer: refused, unresolvable, or silent past the deadline. `address` is
 * the endpoint (the last one tried when several were); `addresses` every one that failed.
 */
export class ConnectionError extends Simd23Error {
  override name = "ConnectionError";
  readonly addresses: readonly string[];
  constructor(
    readonly address: string,
    readonly detail: string,
    addresses?: readonly string[],
    /** The request may have reached the server (a deadline passed rather than a refused connection). */
    readonly mayHaveArrived = false,
  ) {
    super(
      addresses && addresses.length > 1
        ? `cannot reach any of ${addresses.join(", ")}: ${detail}`
        : `cannot reach ${address}: ${detail}`,
    );
    this.addresses = addresses ?? [address];
  }
}

/** An endpoint answered with an error that is not a transaction refusal. */
export class RpcError extends Simd23Error {
  override name = "RpcError";
  constructor(
    readonly address: string,
    readonly method: string,
    /** The gRPC status code. */
    readonly code: number,
    readonly codeName: string,
    readonly detail: string,
    /** The `simd23-reason` the server sent, if any. */
    readonly reason: string | undefined,
  ) {
    super(`${method} at ${address} failed: ${codeName}${reason ? ` (${reason})` : ""}: ${detail}`);
  }
}

/**
 * A proposer refused a transaction or bundle at intake. `reason` is the `tx.RejectReason` name
 * without its prefix (`BAD_SIGNATURE`, `QUEUE_FULL`, `BLOCKHASH_EXPIRED`, …), or `UNKNOWN` when
 * the proposer refused without naming one.
 */
export class TransactionRejectedError extends Simd23Error {
  override name = "TransactionRejectedError";
  constructor(
    readonly signature: string,
    readonly reason: string,
    readonly address: string,
    readonly detail: string,
  ) {
    super(`transaction ${signature} rejected by ${address}: ${reason}${detail ? `: ${detail}` : ""}`);
  }
}

/** A transaction was dropped: it will never execute. */
export class TransactionDroppedError extends Simd23Error {
  override name = "TransactionDroppedError";
  constructor(
    readonly signature: string,
    readonly reason: string,
    readonly status: TransactionStatus,
  ) {
    super(`transaction ${signature} was dropped: ${reason}`);
  }
}

/** A confirmation level was not reached in time; `status` is what was known when time ran out. */
export class ConfirmationTimeoutError extends Simd23Error {
  override name = "ConfirmationTimeoutError";
  constructor(
    readonly signature: string,
    readonly level: string,
    readonly timeoutMs: number,
    readonly status: TransactionStatus,
  ) {
    super(
      `transaction ${signature} did not reach ${level} within ${timeoutMs} ms (${
        status.level === null ? "never seen by the vote aggregator" : `last level: ${status.level}`
      })`,
    );
  }
}

/** A preflight check found that the payer cannot cover the amount and the fee. */
export class InsufficientBalanceError extends Simd23Error {
  override name = "InsufficientBalanceError";
  constructor(
    readonly account: string,
    readonly balance: bigint,
    readonly required: bigint,
    readonly slot: number,
  ) {
    super(
      `insufficient funds: ${account} has ${balance} lamports at slot ${slot}, the transaction needs ${required} (amount and fee)`,
    );
  }
}
