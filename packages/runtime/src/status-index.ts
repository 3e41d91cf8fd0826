import {
  advanceStatus,
  ConfirmationLevel,
  type ConfirmationStatus,
  dropStatus,
  toHex,
  UNSEEN_STATUS,
} from "@simd23/core";
import { control } from "@simd23/proto";
import { integerCodec, protoCodec, type RecordKey, recordKey, type Store, stringCodec } from "@simd23/store";

/** The stored form of one signature's confirmation: the first time each level was reached. */
interface StatusFields {
  received: number;
  proposed: number;
  recorded: number;
  optimistic: number;
  executed: number;
  finalized: number;
  dropped: number;
  droppedReason: string;
  result: control.TransactionResult;
}

export type ProgressLevelName =
  | "received"
  | "proposed"
  | "recorded"
  | "optimistic"
  | "executed"
  | "finalized";

const LEVEL_FIELDS: readonly (readonly [ConfirmationLevel, ProgressLevelName])[] = [
  [ConfirmationLevel.CONFIRMATION_LEVEL_RECEIVED, "received"],
  [ConfirmationLevel.CONFIRMATION_LEVEL_PROPOSED, "proposed"],
  [ConfirmationLevel.CONFIRMATION_LEVEL_RECORDED, "recorded"],
  [ConfirmationLevel.CONFIRMATION_LEVEL_OPTIMISTIC, "optimistic"],
  [ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED, "executed"],
  [ConfirmationLevel.CONFIRMATION_LEVEL_FINALIZED, "finalized"],
];

const FIELDS = {
  received: integerCodec,
  proposed: integerCodec,
  recorded: integerCodec,
  optimistic: integerCodec,
  executed: integerCodec,
  finalized: integerCodec,
  dropped: integerCodec,
  droppedReason: stringCodec,
  result: protoCodec(control.TransactionResult, "TransactionResult"),
};

function statusKey(signature: Uint8Array): RecordKey<StatusFields> {
  return recordKey<StatusFields>(`status/${toHex(signature)}`, FIELDS);
}

export interface StatusIndexOptions {
  readonly store: Store;
  /** How long a signature's status is kept after its last write. */
  readonly ttlMs?: number;
  /** Writes are batched; a batch is sent when it holds this many or after flushIntervalMs. */
  readonly batchSize?: number;
  readonly flushIntervalMs?: number;
  readonly onError?: (error: Error) => void;
}

/**
 * Per transaction signature, the time each confirmation level was first
 * reached (set-if-absent, so the first writer's time stands whichever role
 * writes it), the result once executed, and why it was dropped. Written by
 * proposers (received, proposed, dropped) and vote aggregators (the rest), in
 * batches; read by the aggregators' GetSignatureStatuses.
 */
export class StatusIndex {
  private pending: Array<{ signature: Uint8Array; fields: Partial<StatusFields> }> = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly ttlMs: number;
  private readonly batchSize: number;
  private readonly flushIntervalMs: number;

  constructor(private readonly options: StatusIndexOptions) {
    this.ttlMs = options.ttlMs ?? 60 * 60 * 1000;
    this.batchSize = options.batchSize ?? 1_000;
    this.flushIntervalMs = options.flushIntervalMs ?? 10;
  }

  reached(signature: Uint8Array, level: ProgressLevelName, timeMs: number): void {
    this.enqueue(signature, { [level]: timeMs });
  }

  executed(signature: Uint8Array, timeMs: number, result: control.TransactionResult): void {
    this.enqueue(signature, { executed: timeMs, result });
  }

  dropped(signature: Uint8Array, timeMs: number, reason: string): void {
    this.enqueue(signature, { dropped: timeMs, droppedReason: reason });
  }

  private enqueue(signature: Uint8Array, fields: Partial<StatusFields>): void {
    this.pending.push({ signature, fields });
    if (this.pending.length >= this.batchSize) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushIntervalMs);
  }

  /** Sends every queued write; resolves once they are stored (errors go to onError). */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const writes = this.pending;
    this.pending = [];
    if (writes.length === 0) return this.flushing;
    const batch = this.options.store.batch();
    for (const { signature, fields } of writes) {
      void batch
        .setFieldsIfAbsent(statusKey(signature), fields, { ttlMs: this.ttlMs })
        .catch(() => undefined);
    }
    this.flushing = this.flushing.then(() =>
      batch.commit().catch((error: Error) => this.options.onError?.(error)),
    );
    return this.flushing;
  }

  /** The status of each signature (UNSEEN_STATUS when nothing is known). */
  async get(signatures: readonly Uint8Array[]): Promise<ConfirmationStatus[]> {
    if (signatures.length === 0) return [];
    const batch = this.options.store.batch();
    const reads = signatures.map((signature) => batch.getRecord(statusKey(signature)));
    await batch.commit();
    return Promise.all(reads.map(async (read) => toStatus(await read)));
  }
}

/** Rebuilds a ConfirmationStatus from stored fields, with the core's rules for implied levels. */
export function toStatus(fields: Partial<StatusFields> | undefined): ConfirmationStatus {
  let status = UNSEEN_STATUS;
  if (fields === undefined) return status;
  for (const [level, name] of LEVEL_FIELDS) {
    const time = fields[name];
    if (time === undefined) continue;
    const result =
      fields.result !== undefined && level >= ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED
        ? fields.result
        : undefined;
    status = advanceStatus(status, level, time, result).status;
  }
  if (fields.dropped !== undefined && fields.executed === undefined) {
    status = dropStatus(status, fields.droppedReason ?? "dropped", fields.dropped).status;
  }
  return status;
}
