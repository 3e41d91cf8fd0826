import {
  advanceStatus,
  ConfirmationLevel,
  type ConfirmationStatus,
  currentLevel,
  dropStatus,
  type StatusChange,
  timeOfLevel,
  UNSEEN_STATUS,
} from "@simd23/core";
import type { control } from "@simd23/proto";

/** The `level` label of the aggregator's metrics: the level's name in lower case. */
export type LevelName =
  | "received"
  | "proposed"
  | "recorded"
  | "optimistic"
  | "executed"
  | "finalized"
  | "dropped";

const LEVEL_NAMES: Readonly<Record<number, LevelName>> = {
  [ConfirmationLevel.CONFIRMATION_LEVEL_RECEIVED]: "received",
  [ConfirmationLevel.CONFIRMATION_LEVEL_PROPOSED]: "proposed",
  [ConfirmationLevel.CONFIRMATION_LEVEL_RECORDED]: "recorded",
  [ConfirmationLevel.CONFIRMATION_LEVEL_OPTIMISTIC]: "optimistic",
  [ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED]: "executed",
  [ConfirmationLevel.CONFIRMATION_LEVEL_FINALIZED]: "finalized",
  [ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED]: "dropped",
};

export function levelName(level: ConfirmationLevel): LevelName {
  const name = LEVEL_NAMES[level];
  if (name === undefined) throw new RangeError(`not a confirmation level: ${level}`);
  return name;
}

/** A map key for a signature (internal only). */
export function signatureKey(signature: Uint8Array): string {
  return Buffer.from(signature.buffer, signature.byteOffset, signature.byteLength).toString("base64");
}

/** Whether nothing can change the status any more: finalized or dropped. */
export function isTerminal(status: ConfirmationStatus): boolean {
  const level = currentLevel(status);
  return (
    level === ConfirmationLevel.CONFIRMATION_LEVEL_FINALIZED ||
    level === ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED
  );
}

/**
 * What `target` becomes after learning everything `source` knows, with the core's rules
 * (levels never go backwards, times never decrease, the first result stays, DROPPED is
 * terminal), and the levels that were new to `target`: what a subscriber holding `target`
 * is sent. Merging is how two views of one signature (the status index's and this replica's,
 * or a subscriber's and this replica's) combine.
 */
export function mergeStatus(target: ConfirmationStatus, source: ConfirmationStatus): StatusChange {
  let status = target;
  const reached: StatusChange["reached"][number][] = [];
  let resultAttached = false;
  const apply = (change: StatusChange): void => {
    status = change.status;
    reached.push(...change.reached);
    resultAttached ||= change.resultAttached;
  };
  for (const { level, timeMs } of source.levels) {
    if (level === ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED) continue;
    const result =
      level >= ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED ? (source.result ?? undefined) : undefined;
    apply(advanceStatus(status, level, Number(timeMs), result));
  }
  if (source.droppedReason !== null) {
    const droppedAt = timeOfLevel(source, ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED) ?? 0;
    apply(dropStatus(status, source.droppedReason, droppedAt));
  }
  return { status, reached, resultAttached };
}

/** One signature's status changed in this replica's view. */
export interface StatusUpdate {
  readonly signature: Uint8Array;
  readonly status: ConfirmationStatus;
  readonly change: StatusChange;
}

/**
 * This replica's view of recent signatures: the levels it saw each reach, kept for the newest
 * `capacity` signatures (the least recently changed are forgotten first; the status index
 * keeps everything). Every change goes to the listeners, in the order it happened.
 */
export class StatusBook {
  private readonly entries = new Map<string, { signature: Uint8Array; status: ConfirmationStatus }>();
  private readonly listeners: ((update: StatusUpdate) => void)[] = [];

  constructor(private readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`the status book holds at least one signature, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  onUpdate(listener: (update: StatusUpdate) => void): void {
    this.listeners.push(listener);
  }

  get(signature: Uint8Array): ConfirmationStatus {
    return this.entries.get(signatureKey(signature))?.status ?? UNSEEN_STATUS;
  }

  /** Applies `advanceStatus`; listeners hear of it when something changed. */
  advance(
    signature: Uint8Array,
    level: ConfirmationLevel,
    timeMs: number,
    result?: control.TransactionResult,
  ): StatusChange {
    return this.change(signature, (status) => advanceStatus(status, level, timeMs, result));
  }

  private change(signature: Uint8Array, apply: (status: ConfirmationStatus) => StatusChange): StatusChange {
    const key = signatureKey(signature);
    const entry = this.entries.get(key);
    const change = apply(entry?.status ?? UNSEEN_STATUS);
    if (change.reached.length === 0 && !change.resultAttached) return change;
    // Re-inserting moves the signature to the newest end of the map's order.
    this.entries.delete(key);
    this.entries.set(key, { signature: entry?.signature ?? signature, status: change.status });
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
    const update: StatusUpdate = { signature: entry?.signature ?? signature, status: change.status, change };
    for (const listener of this.listeners) listener(update);
    return change;
  }
}
