import { ConfigurationError, InvalidInputError, KeypairFileError, Simd23Error } from "../errors.js";

/** An error the CLI reports as one line, exiting with exitCode (2: bad input or usage, 1: a failed check). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/**
 * The exit code for an error: 2 when the command line or a file the user named is wrong (a
 * malformed key, amount, keypair file, a missing endpoint), 1 when the operation failed (an
 * unreachable endpoint, a refusal, a drop, a timeout, a failed transaction, a bug).
 */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (
    error instanceof InvalidInputError ||
    error instanceof KeypairFileError ||
    error instanceof ConfigurationError
  )
    return 2;
  return 1;
}

/** The one line printed for an error: its message with line breaks folded. */
export function errorLine(error: unknown): string {
  const message =
    error instanceof CliError || error instanceof Simd23Error
      ? error.message
      : ((error as Error)?.message ?? String(error));
  return `error: ${message.replace(/\s*\n\s*/g, "; ").trim()}`;
}
