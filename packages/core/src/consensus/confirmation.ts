import { type control, voteaggregator } from "@simd23/proto";

export const ConfirmationLevel = voteaggregator.ConfirmationLevel;
export type ConfirmationLevel = voteaggregator.ConfirmationLevel;
export type LevelReached = voteaggregator.LevelReached;
export type TransactionResult = control.TransactionResult;

/** The levels a transaction climbs, in order (design.md §9); DROPPED stands apart and is terminal. */
export const PROGRESS_LEVELS: readonly ConfirmationLevel[] = [
  ConfirmationLevel.CONFIRMATION_LEVEL_RECEIVED,
  ConfirmationLevel.CONFIRMATION_LEVEL_PROPOSED,
  ConfirmationLevel.CONFIRMATION_LEVEL_RECORDED,
  ConfirmationLevel.CONFIRMATION_LEVEL_OPTIMISTIC,
  ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED,
  ConfirmationLevel.CONFIRMATION_LEVEL_FINALIZED,
];

/** One signature's confirmation: every level reached with its time, its result once executed, why it was dropped. */
export interface ConfirmationStatus {
  /** Progress levels in order, each once, times never decreasing; DROPPED last when dropped. */
  readonly levels: readonly LevelReached[];
  readonly result: TransactionResult | null;
  readonly droppedReason: string | null;
}

export const UNSEEN_STATUS: ConfirmationStatus = { levels: [], result: null, droppedReason: null };

export interface StatusChange {
  readonly status: ConfirmationStatus;
  /** Levels newly reached by this change, in order (what a subscriber is sent). */
  readonly reached: readonly LevelReached[];
  /** Whether this change attached the result. */
  readonly resultAttached: boolean;
}

function isProgressLevel(level: ConfirmationLevel): boolean {
  return (
    level >= ConfirmationLevel.CONFIRMATION_LEVEL_RECEIVED &&
    level <= ConfirmationLevel.CONFIRMATION_LEVEL_FINALIZED
  );
}

/** The highest progress level reached (UNSPECIFIED before any); DROPPED once dropped. */
export function currentLevel(status: ConfirmationStatus): ConfirmationLevel {
  return status.levels.at(-1)?.level ?? ConfirmationLevel.CONFIRMATION_LEVEL_UNSPECIFIED;
}

export function isDropped(status: ConfirmationStatus): boolean {
  return status.droppedReason !== null;
}

/** The time a level was reached, or undefined. */
export function timeOfLevel(status: ConfirmationStatus, level: ConfirmationLevel): number | undefined {
  const reached = status.levels.find((l) => l.level === level);
  return reached === undefined ? undefined : Number(reached.timeMs);
}

// A level is stamped no earlier than the one before it, so times read in order even when
// events arrive out of order.
function stampTime(status: ConfirmationStatus, timeMs: number): bigint {
  const last = status.levels.at(-1)?.timeMs;
  const t = BigInt(timeMs);
  return last !== undefined && last > t ? last : t;
}

const unchanged = (status: ConfirmationStatus): StatusChange => ({
  status,
  reached: [],
  resultAttached: false,
});

/**
 * The status after learning that a transaction reached `level` at `timeMs`. Levels never go
 * backwards: an older or equal level changes nothing. Reaching a level implies every earlier one:
 * each level skipped over is reached at the same time. A dropped status never changes. The result
 * attaches with EXECUTED or FINALIZED, once (the first result stays). Throws a RangeError for a
 * level that is not a progress level, or a result with a level below EXECUTED.
 */
export function advanceStatus(
  status: ConfirmationStatus,
  level: ConfirmationLevel,
  timeMs: number,
  result?: TransactionResult,
): StatusChange {
  if (!isProgressLevel(level)) throw new RangeError(`not a progress level: ${level} (drop with dropStatus)`);
  if (result !== undefined && level < ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED)
    throw new RangeError("a result comes with EXECUTED or FINALIZED");
  if (isDropped(status)) return unchanged(status);
  const current = currentLevel(status);
  const attach = result !== undefined && status.result === null;
  if (level <= current && !attach) return unchanged(status);
  const timeStamp = stampTime(status, timeMs);
  const reached: LevelReached[] = [];
  for (let l = current + 1; l <= level; l++) reached.push({ level: l, timeMs: timeStamp });
  return {
    status: {
      levels: [...status.levels, ...reached],
      result: attach ? result : status.result,
      droppedReason: null,
    },
    reached,
    resultAttached: attach,
  };
}

/**
 * The status after the transaction was dropped for `reason`: DROPPED is reached and the status
 * never changes again. A transaction whose result is known (EXECUTED or later) cannot be dropped;
 * nor can one dropped already.
 */
export function dropStatus(status: ConfirmationStatus, reason: string, timeMs: number): StatusChange {
  if (reason.length === 0) throw new RangeError("a drop needs a reason");
  if (isDropped(status) || currentLevel(status) >= ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED)
    return unchanged(status);
  const dropped: LevelReached = {
    level: ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED,
    timeMs: stampTime(status, timeMs),
  };
  return {
    status: { levels: [...status.levels, dropped], result: status.result, droppedReason: reason },
    reached: [dropped],
    resultAttached: false,
  };
}

/** The wire form of a status. */
export function toSignatureStatus(
  signature: Uint8Array,
  status: ConfirmationStatus,
): voteaggregator.SignatureStatus {
  return {
    signature,
    found: status.levels.length > 0,
    levels: status.levels.map((l) => ({ level: l.level, timeMs: l.timeMs })),
    result: status.result ?? undefined,
    droppedReason: status.droppedReason ?? "",
  };
}

/** A status back from its wire form (as stored by the aggregator). */
export function fromSignatureStatus(wire: voteaggregator.SignatureStatus): ConfirmationStatus {
  const levels = wire.levels.map((l) => ({ level: l.level, timeMs: l.timeMs }));
  const dropped = levels.at(-1)?.level === ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED;
  return { levels, result: wire.result ?? null, droppedReason: dropped ? wire.droppedReason : null };
}
