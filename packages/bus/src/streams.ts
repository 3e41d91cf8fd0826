/**
 * The streams the roles share: the five of design.md §1, and INTAKE, where a
 * proposer stores each transaction before it acknowledges it (docs/architecture.md).
 */
export type StreamName = "USERBLOCKS" | "LEDGER" | "VOTES" | "BANKHASHES" | "CONTROL" | "INTAKE";

/**
 * Retention of one stream. The oldest messages are discarded when a limit is reached.
 * `0` means no limit. `maxBytes` defaults to no limit because NATS reserves a file stream's
 * `max_bytes` against the server's whole store when the stream is created: several testnets on
 * one server would otherwise be refused long before the disk is full.
 */
export interface StreamLimits {
  readonly maxAgeMs: number;
  readonly maxBytes: number;
  readonly maxMessages: number;
  /** A `msgId` seen within this window is not stored again. At most `maxAgeMs` when that is set. */
  readonly duplicateWindowMs: number;
}

export interface StreamDefinition {
  readonly name: StreamName;
  /** The first token of every subject the stream stores: the stream holds `<token>.>`. */
  readonly subjectToken: string;
  readonly description: string;
  readonly limits: StreamLimits;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const TWO_MINUTES_MS = 2 * 60 * 1000;

function limits(maxAgeMs: number): StreamLimits {
  return { maxAgeMs, maxBytes: 0, maxMessages: 0, duplicateWindowMs: TWO_MINUTES_MS };
}

/**
 * The stream definitions. Executors replay LEDGER from the start and fetch every UserBlock it
 * names, so USERBLOCKS keeps as long as LEDGER does.
 */
export const STREAMS: Readonly<Record<StreamName, StreamDefinition>> = Object.freeze({
  USERBLOCKS: {
    name: "USERBLOCKS",
    subjectToken: "userblocks",
    description: "Proposers' signed UserBlocks; repair reads one back by its hash subject.",
    limits: limits(7 * DAY_MS),
  },
  LEDGER: {
    name: "LEDGER",
    subjectToken: "ledger",
    description: "The leaders' PoH entries, replayed from the start or a sequence by every executor.",
    limits: limits(7 * DAY_MS),
  },
  VOTES: {
    name: "VOTES",
    subjectToken: "votes",
    description: "Validators' signed votes.",
    limits: limits(7 * DAY_MS),
  },
  BANKHASHES: {
    name: "BANKHASHES",
    subjectToken: "bankhashes",
    description: "Validators' BankHash commitments.",
    limits: limits(7 * DAY_MS),
  },
  CONTROL: {
    name: "CONTROL",
    subjectToken: "control",
    description: "Membership requests, halts and mismatch reports.",
    limits: limits(30 * DAY_MS),
  },
  INTAKE: {
    name: "INTAKE",
    subjectToken: "intake",
    description:
      "Transactions a proposer accepted, kept until they are recorded or dropped, so none is lost.",
    limits: limits(DAY_MS),
  },
});

export const STREAM_NAMES: readonly StreamName[] = Object.freeze([
  "USERBLOCKS",
  "LEDGER",
  "VOTES",
  "BANKHASHES",
  "CONTROL",
  "INTAKE",
]);
