import type { AnyKey, CounterKey, IndexKey, MembershipKey, RecordKey, ValueKey } from "./keys.js";

/**
 * The connection as the store sees it. Only `connected` serves operations; in every other
 * state operations fail at once with DISCONNECTED (or CLOSED once closed).
 */
export type StoreStatus = "connecting" | "connected" | "disconnected" | "reconnecting" | "closed";

/**
 * Expiry of a write. With `ttlMs` the key expires that many milliseconds after this write.
 * Without it, `set` leaves the value without expiry (it replaces the key whole) and every other
 * write keeps the key's current expiry.
 */
export interface WriteOptions {
  readonly ttlMs?: number;
}

export interface UpdateOptions extends WriteOptions {
  /** How many read-compute-write rounds to try before failing with CONFLICT (default 100). */
  readonly maxAttempts?: number;
}

export interface JoinOptions {
  /** The lease: the member is listed until this many milliseconds after the join or renewal. */
  readonly ttlMs: number;
  /**
   * Claim the id: join only if no live member holds it with different data. The data names the
   * holder; the same holder joining again succeeds.
   */
  readonly exclusive?: boolean;
}

export interface Member<T> {
  readonly id: string;
  readonly data: T;
  /** When the lease ends, in milliseconds since the epoch by the store's clock (Redis: its TIME). */
  readonly expiresAtMs: number;
}

export interface IndexEntry {
  readonly member: string;
  readonly score: number;
}

export interface IndexRangeOptions {
  /** Lowest score included (default -Infinity). */
  readonly min?: number;
  /** Highest score included (default Infinity). */
  readonly max?: number;
  /** `asc` (default): lowest score first; `desc`: highest first. Equal scores order by member. */
  readonly order?: "asc" | "desc";
  /** Entries to skip, in the chosen order (default 0). */
  readonly offset?: number;
  /** At most this many entries (default: all). */
  readonly limit?: number;
}

/** Which entries `indexTrim` removes: all with a score below `belowScore`, or all but the highest `keepHighest`. */
export type IndexTrim = { readonly belowScore: number } | { readonly keepHighest: number };

/**
 * The operations of a store, each on one key and atomic on its own. On a Store each returns a
 * promise of its result; on a Batch the same call queues the operation and returns a promise
 * that settles when the batch is committed.
 */
export interface StoreOperations {
  get<T>(key: ValueKey<T>): Promise<T | undefined>;
  set<T>(key: ValueKey<T>, value: T, options?: WriteOptions): Promise<void>;
  /** Writes only if the key is absent; true if this call wrote it. */
  setIfAbsent<T>(key: ValueKey<T>, value: T, options?: WriteOptions): Promise<boolean>;
  /** Deletes a key of any kind; true if it existed. */
  delete(key: AnyKey): Promise<boolean>;
  /** Sets a key's expiry; false if the key does not exist. */
  expire(key: AnyKey, ttlMs: number): Promise<boolean>;
  /** Milliseconds until the key expires: Infinity if it never does, undefined if it does not exist. */
  timeToLive(key: AnyKey): Promise<number | undefined>;

  /** Adds `by` (a safe integer, default 1) and returns the new value; an absent counter is 0. */
  increment(key: CounterKey, by?: number, options?: WriteOptions): Promise<number>;
  getCounter(key: CounterKey): Promise<number>;

  /** Every field present, or undefined when the record does not exist. */
  getRecord<F extends object>(key: RecordKey<F>): Promise<Partial<F> | undefined>;
  /** Writes the given fields (undefined ones are skipped), leaving the others as they are. */
  setFields<F extends object>(key: RecordKey<F>, fields: Partial<F>, options?: WriteOptions): Promise<void>;
  /** Writes each given field that is not set yet; returns the names of the fields this call set. */
  setFieldsIfAbsent<F extends object>(
    key: RecordKey<F>,
    fields: Partial<F>,
    options?: WriteOptions,
  ): Promise<Array<keyof F & string>>;

  /** Adds the member or moves it to the new score; true if it was not in the index before. */
  indexAdd(key: IndexKey, member: string, score: number, options?: WriteOptions): Promise<boolean>;
  indexRemove(key: IndexKey, member: string): Promise<boolean>;
  indexRange(key: IndexKey, options?: IndexRangeOptions): Promise<IndexEntry[]>;
  indexScore(key: IndexKey, member: string): Promise<number | undefined>;
  indexSize(key: IndexKey): Promise<number>;
  /** Removes entries as `trim` says; returns how many. */
  indexTrim(key: IndexKey, trim: IndexTrim): Promise<number>;

  /**
   * Adds or refreshes a member with its data and lease; returns false only when `exclusive`
   * and another holder's live lease has the id.
   */
  join<T>(key: MembershipKey<T>, id: string, data: T, options: JoinOptions): Promise<boolean>;
  /** Extends a live lease held with this data; false if the member expired, left or is held by another. */
  renew<T>(key: MembershipKey<T>, id: string, data: T, options: { readonly ttlMs: number }): Promise<boolean>;
  /** Removes a live member (only if its data equals `data`, when given); true if it was removed. */
  leave<T>(key: MembershipKey<T>, id: string, data?: T): Promise<boolean>;
  /** The live members, ordered by id; an expired member is never listed. */
  members<T>(key: MembershipKey<T>): Promise<Array<Member<T>>>;
}

/**
 * Operations sent together in one round trip. The batch is not a transaction: each operation
 * is atomic on its own and they apply in order. A call with invalid input throws at once and
 * queues nothing.
 */
export interface Batch extends StoreOperations {
  /** Operations queued so far. */
  readonly size: number;
  /**
   * Sends every queued operation and waits for all to settle; rejects with the first
   * operation's error if any failed. A batch commits once.
   */
  commit(): Promise<void>;
}

export interface Store extends StoreOperations {
  /** The key prefix chosen at connect time; every key lives under it. */
  readonly namespace: string;
  readonly status: StoreStatus;
  /** True while the status is `connected`. */
  readonly ready: boolean;
  /** Calls `listener` on every status change; returns a function that removes it. */
  onStatusChange(listener: (status: StoreStatus) => void): () => void;
  /**
   * Atomic read-modify-write of a value: `fn` gets the current value (undefined if absent) and
   * returns the new one, which is written only if the value did not change meanwhile; otherwise
   * `fn` runs again on the newer value. `fn` must be pure: it may run several times. Resolves
   * to the value written.
   */
  update<T>(key: ValueKey<T>, fn: (current: T | undefined) => T, options?: UpdateOptions): Promise<T>;
  batch(): Batch;
  /** Deletes every key in this store's namespace; returns how many. */
  clear(): Promise<number>;
  /** Ends the connection; later operations fail with CLOSED. */
  close(): Promise<void>;
}
