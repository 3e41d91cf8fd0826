import type { StreamName } from "@simd23/bus";
import type { Counter, Logger } from "@simd23/service-kit";

/**
 * The reasons any consumer of a stream may refuse a message for: the envelope's (openEnvelope's
 * codes), a signer that is not the one the body names, a body that does not decode. Each is a
 * series at 0 from the start, for every stream the role consumes.
 */
export const COMMON_REFUSAL_REASONS = [
  "malformed",
  "wrong_kind",
  "bad_signature",
  "unauthorized_signer",
  "wrong_signer",
] as const;

/** Refusals of one stream and reason logged in full; past that, only at powers of two. */
const LOGGED_IN_FULL = 10;

/** A refusal reason as a label value: `bad-signature`, `BAD_SIGNATURE` → `bad_signature`. */
export function refusalLabel(reason: string): string {
  const label = reason
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_+|_+$/g, "");
  return label === "" ? "unspecified" : label;
}

export interface MessageRefusalsOptions {
  /** The role's `simd23_<role>_messages_refused_total{stream,reason}` (the kit's `metrics.messagesRefused`). */
  readonly counter: Counter<"stream" | "reason">;
  readonly logger: Pick<Logger, "warn">;
  /** The streams this role consumes: their common reasons start at 0. */
  readonly streams: readonly StreamName[];
}

/**
 * How every role refuses a bus message it consumed: counted by stream and
 * reason in `simd23_<role>_messages_refused_total` and logged as "message
 * refused" — every one of the first ten of a stream and reason, then at
 * powers of two, so a flood of forgeries cannot flood the log.
 */
export class MessageRefusals {
  private readonly counts = new Map<string, number>();

  constructor(private readonly options: MessageRefusalsOptions) {
    for (const stream of options.streams)
      for (const reason of COMMON_REFUSAL_REASONS)
        options.counter.inc({ stream: stream.toLowerCase(), reason }, 0);
  }

  refuse(stream: StreamName, reason: string, detail: string, fields: Record<string, unknown> = {}): void {
    const labels = { stream: stream.toLowerCase(), reason: refusalLabel(reason) };
    this.options.counter.inc(labels);
    const key = `${labels.stream}/${labels.reason}`;
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    if (count <= LOGGED_IN_FULL || (count & (count - 1)) === 0)
      this.options.logger.warn({ ...fields, ...labels, count, detail }, "message refused");
  }

  /** Refusals so far of a stream, of one reason or of all. */
  count(stream: StreamName, reason?: string): number {
    const prefix = `${stream.toLowerCase()}/`;
    let total = 0;
    for (const [key, count] of this.counts)
      if (reason === undefined ? key.startsWith(prefix) : key === `${prefix}${refusalLabel(reason)}`)
        total += count;
    return total;
  }
}
