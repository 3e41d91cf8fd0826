import type { StoreError } from "../errors.js";
import type { IndexEntry, IndexTrim, StoreStatus } from "../store.js";

/**
 * The byte-level operations an adapter implements. The typed layer (typed-store.ts) turns
 * keys, codecs and options into these, so both adapters share validation, encoding, batching
 * and the optimistic update loop; an adapter only moves bytes. Keys here carry the namespace.
 */
export interface RawOpSpecs {
  get: { input: { key: string }; output: Uint8Array | undefined };
  set: {
    input: { key: string; value: Uint8Array; ttlMs: number | undefined; ifAbsent: boolean };
    output: boolean;
  };
  /** Writes `value` only if the key holds exactly `expected` (undefined: is absent). */
  compareAndSet: {
    input: { key: string; expected: Uint8Array | undefined; value: Uint8Array; ttlMs: number | undefined };
    output: boolean;
  };
  delete: { input: { key: string }; output: boolean };
  expire: { input: { key: string; ttlMs: number }; output: boolean };
  timeToLive: { input: { key: string }; output: number | undefined };
  increment: { input: { key: string; by: number; ttlMs: number | undefined }; output: number };
  /** All fields; empty when the hash does not exist. */
  hashGetAll: { input: { key: string }; output: Map<string, Uint8Array> };
  /** Returns the fields written (with `ifAbsent`, only those that were not set). */
  hashSet: {
    input: {
      key: string;
      fields: ReadonlyArray<readonly [string, Uint8Array]>;
      ifAbsent: boolean;
      ttlMs: number | undefined;
    };
    output: string[];
  };
  indexAdd: {
    input: { key: string; member: string; score: number; ttlMs: number | undefined };
    output: boolean;
  };
  indexRemove: { input: { key: string; member: string }; output: boolean };
  indexRange: {
    input: {
      key: string;
      min: number;
      max: number;
      order: "asc" | "desc";
      offset: number;
      limit: number | undefined;
    };
    output: IndexEntry[];
  };
  indexScore: { input: { key: string; member: string }; output: number | undefined };
  indexSize: { input: { key: string }; output: number };
  indexTrim: { input: { key: string; trim: IndexTrim }; output: number };
  join: {
    input: { key: string; id: string; data: Uint8Array; ttlMs: number; exclusive: boolean };
    output: boolean;
  };
  renew: { input: { key: string; id: string; data: Uint8Array; ttlMs: number }; output: boolean };
  leave: { input: { key: string; id: string; data: Uint8Array | undefined }; output: boolean };
  members: { input: { key: string }; output: RawMember[] };
}

export interface RawMember {
  readonly id: string;
  readonly data: Uint8Array;
  readonly expiresAtMs: number;
}

export type RawOpKind = keyof RawOpSpecs;
export type RawOpOf<K extends RawOpKind> = { readonly kind: K } & Readonly<RawOpSpecs[K]["input"]>;
export type RawOp = { [K in RawOpKind]: RawOpOf<K> }[RawOpKind];
export type RawResult<K extends RawOpKind> = RawOpSpecs[K]["output"];

export type RawOutcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly error: StoreError };

export interface Backend {
  readonly status: StoreStatus;
  onStatusChange(listener: (status: StoreStatus) => void): () => void;
  /**
   * Runs the operations in order in one round trip and reports each one's outcome in the same
   * order. Never rejects: a failure of the whole round trip is every operation's outcome.
   */
  execute(ops: readonly RawOp[]): Promise<RawOutcome[]>;
  /** Deletes every key that starts with `prefix`; returns how many. */
  clear(prefix: string): Promise<number>;
  close(): Promise<void>;
}
