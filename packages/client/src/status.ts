import {
  advanceStatus,
  type ConfirmationStatus,
  currentLevel,
  dropStatus,
  encodeKey,
  isDropped,
  PROGRESS_LEVELS,
  UNSEEN_STATUS,
} from "@simd23/core";
import { type control, tx, voteaggregator } from "@simd23/proto";

const Level = voteaggregator.ConfirmationLevel;

/** The confirmation levels of design.md §9, lower-case, in order; `dropped` is terminal. */
export const LEVEL_NAMES = [
  "received",
  "proposed",
  "recorded",
  "optimistic",
  "executed",
  "finalized",
  "dropped",
] as const;
export type LevelName = (typeof LEVEL_NAMES)[number];

/** The levels a transaction climbs (every level but `dropped`). */
export type ProgressLevelName = Exclude<LevelName, "dropped">;
export const PROGRESS_LEVEL_NAMES: readonly ProgressLevelName[] = LEVEL_NAMES.filter(
  (name): name is ProgressLevelName => name !== "dropped",
);

export function levelName(level: voteaggregator.ConfirmationLevel): LevelName | undefined {
  if (level < Level.CONFIRMATION_LEVEL_RECEIVED || level > Level.CONFIRMATION_LEVEL_DROPPED) return undefined;
  return LEVEL_NAMES[level - Level.CONFIRMATION_LEVEL_RECEIVED];
}

export function levelFromName(name: LevelName): voteaggregator.ConfirmationLevel {
  return (LEVEL_NAMES.indexOf(name) + Level.CONFIRMATION_LEVEL_RECEIVED) as voteaggregator.ConfirmationLevel;
}

export function isLevelName(text: string): text is LevelName {
  return (LEVEL_NAMES as readonly string[]).includes(text);
}

/**
 * The name of an execution outcome, Solana style: `ok` for success, otherwise the
 * `tx.ExecutionStatus` name without its prefix in PascalCase — `Duplicate`,
 * `InsufficientFundsForFee`, `BlockhashNotFound`, `SignatureFailure`, `InsufficientFunds`,
 * `ComputeBudgetExceeded`, `InvalidTransaction`, `BundleRolledBack` — the names design.md uses,
 * which are Solana's `TransactionError` names where Solana has the same error. A value this
 * client does not know reads `Unknown(<number>)`.
 */
export function executionStatusName(status: tx.ExecutionStatus): string {
  if (status === tx.ExecutionStatus.EXECUTION_STATUS_OK) return "ok";
  const name = tx.executionStatusToJSON(status);
  const prefix = "EXECUTION_STATUS_";
  if (
    !name.startsWith(prefix) ||
    status === tx.ExecutionStatus.EXECUTION_STATUS_UNSPECIFIED ||
    status === tx.ExecutionStatus.UNRECOGNIZED
  )
    return `Unknown(${status})`;
  return name
    .slice(prefix.length)
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_, _separator: string, letter: string) => letter.toUpperCase());
}

/** A transaction's execution result, once executed. */
export interface ExecutionResult {
  readonly ok: boolean;
  /** `ok`, or the error name (see executionStatusName). */
  readonly status: string;
  /** Lamports charged to the fee payer (base and priority fee). */
  readonly fee: bigint;
  readonly slot: number;
  readonly userBlockSlot: number;
  /** The proposer whose UserBlock carried it (base58). */
  readonly proposer: string;
}

export function executionResultOf(result: control.TransactionResult): ExecutionResult {
  return {
    ok: result.status === tx.ExecutionStatus.EXECUTION_STATUS_OK,
    status: executionStatusName(result.status),
    fee: result.fee,
    slot: result.slot,
    userBlockSlot: result.userBlockSlot,
    proposer: result.proposer.length > 0 ? encodeKey(result.proposer) : "",
  };
}

/** Everything known about one transaction's confirmation. */
export interface TransactionStatus {
  readonly signature: string;
  /** Whether the vote aggregator knows the signature. */
  readonly found: boolean;
  /** The highest level reached, `dropped` once dropped; null before any. */
  readonly level: LevelName | null;
  /** Each level reached with its time (ms since the Unix epoch), in level order. */
  readonly levels: Readonly<Partial<Record<LevelName, number>>>;
  readonly result: ExecutionResult | null;
  readonly droppedReason: string | null;
}

/** One level a transaction reached, as a subscription reports it. */
export interface SignatureUpdate {
  readonly signature: string;
  readonly level: LevelName;
  readonly timeMs: number;
  /** Present with `executed` or `finalized` (or alone, when the result arrives after the level). */
  readonly result: ExecutionResult | null;
  readonly droppedReason: string | null;
}

/** Whether `status` has reached `level` (a dropped status reaches only `dropped`). */
export function hasReached(status: TransactionStatus, level: LevelName): boolean {
  return status.levels[level] !== undefined;
}

/**
 * One signature's confirmation as the client learns it, from polls and stream updates in any
 * order: the core's rules (docs/protocol.md §14) keep levels monotone, fill in implied levels with
 * the time they were learned, and keep the first result, which attaches only once executed.
 */
export class StatusTracker {
  private status: ConfirmationStatus = UNSEEN_STATUS;
  private result: ExecutionResult | null = null;
  private foundByServer = false;

  constructor(readonly signature: string) {}

  /** Merges a full status from GetSignatureStatuses. */
  applyStatus(wire: voteaggregator.SignatureStatus): void {
    if (wire.found) this.foundByServer = true;
    const result = wire.result === undefined ? null : executionResultOf(wire.result);
    for (const reached of wire.levels)
      this.reach(reached.level, Number(reached.timeMs), result, wire.droppedReason);
    if (result !== null) this.attach(result);
  }

  /** Merges one SubscribeSignatures message. */
  applyUpdate(wire: voteaggregator.SubscribeSignaturesResponse): void {
    this.foundByServer = true;
    const result = wire.result === undefined ? null : executionResultOf(wire.result);
    if (wire.reached !== undefined)
      this.reach(wire.reached.level, Number(wire.reached.timeMs), result, wire.droppedReason);
    if (result !== null) this.attach(result);
  }

  /** Merges an update as a SignatureSubscription delivers it. */
  applySignatureUpdate(update: SignatureUpdate): void {
    this.foundByServer = true;
    this.reach(levelFromName(update.level), update.timeMs, update.result, update.droppedReason ?? "");
    if (update.result !== null) this.attach(update.result);
  }

  /** Merges a status as getSignatureStatuses returns it. */
  applyTransactionStatus(status: TransactionStatus): void {
    if (status.found) this.foundByServer = true;
    for (const name of LEVEL_NAMES) {
      const time = status.levels[name];
      if (time !== undefined)
        this.reach(levelFromName(name), time, status.result, status.droppedReason ?? "");
    }
    if (status.result !== null) this.attach(status.result);
  }

  /** The highest level reached (`dropped` once dropped), without building the full status. */
  get level(): LevelName | null {
    const last = this.status.levels.at(-1);
    return last === undefined ? null : (levelName(last.level) ?? null);
  }

  /** The time a level was reached, ms, or undefined. */
  timeOf(level: LevelName): number | undefined {
    const wanted = levelFromName(level);
    const reached = this.status.levels.find((l) => l.level === wanted);
    return reached === undefined ? undefined : Number(reached.timeMs);
  }

  get executionResult(): ExecutionResult | null {
    return this.result;
  }

  get droppedReason(): string | null {
    return this.status.droppedReason;
  }

  private reach(
    level: voteaggregator.ConfirmationLevel,
    timeMs: number,
    result: ExecutionResult | null,
    droppedReason: string,
  ): void {
    if (level === Level.CONFIRMATION_LEVEL_DROPPED) {
      this.status = dropStatus(this.status, droppedReason || "dropped", timeMs).status;
    } else if (PROGRESS_LEVELS.includes(level)) {
      this.status = advanceStatus(this.status, level, timeMs).status;
      if (result !== null && level >= Level.CONFIRMATION_LEVEL_EXECUTED) this.attach(result);
    }
  }

  // The result is the aggregator's answer once executed; a result without that level waits.
  private attach(result: ExecutionResult): void {
    if (this.result !== null || isDropped(this.status)) return;
    if (currentLevel(this.status) >= Level.CONFIRMATION_LEVEL_EXECUTED) this.result = result;
  }

  get current(): TransactionStatus {
    const levels: Partial<Record<LevelName, number>> = {};
    let level: LevelName | null = null;
    for (const reached of this.status.levels) {
      const name = levelName(reached.level);
      if (name === undefined) continue;
      levels[name] = Number(reached.timeMs);
      level = name;
    }
    return {
      signature: this.signature,
      found: this.foundByServer || this.status.levels.length > 0,
      level,
      levels,
      result: this.result,
      droppedReason: this.status.droppedReason,
    };
  }
}

export function signatureUpdateOf(
  update: voteaggregator.SubscribeSignaturesResponse,
): SignatureUpdate | null {
  const level = update.reached === undefined ? undefined : levelName(update.reached.level);
  if (level === undefined || update.reached === undefined) return null;
  return {
    signature: encodeKey(update.signature),
    level,
    timeMs: Number(update.reached.timeMs),
    result: update.result === undefined ? null : executionResultOf(update.result),
    droppedReason: level === "dropped" ? update.droppedReason || "dropped" : null,
  };
}
