import { StoreError } from "./errors.js";
import { MemoryBackend, MemoryData } from "./private/memory-backend.js";
import { createTypedStore } from "./private/typed-store.js";
import type { Store } from "./store.js";

/**
 * In-process data that several stores share, as several connections share one Redis: the
 * embedded devnet gives every role its own store (own namespace use, own close) over one database.
 */
export interface MemoryDatabase {
  /** Keys held, across namespaces (expired ones are dropped first). */
  readonly size: number;
}

export interface MemoryDatabaseOptions {
  /** The clock that drives expiry, in milliseconds since the epoch (default Date.now). */
  readonly now?: () => number;
}

export interface MemoryStoreOptions {
  readonly namespace: string;
  /** The data to use; a new database when absent. */
  readonly database?: MemoryDatabase;
  /** The clock of the new database (only without `database`, whose clock is its own). */
  readonly now?: () => number;
}

export function createMemoryDatabase(options: MemoryDatabaseOptions = {}): MemoryDatabase {
  const now = options.now ?? Date.now;
  if (typeof now !== "function") throw new StoreError("INVALID_ARGUMENT", "now must be a function");
  return new MemoryData(now);
}

/** A store kept in this process, with the same behaviour as the Redis store; always connected until closed. */
export function createMemoryStore(options: MemoryStoreOptions): Store {
  const { database, now } = options;
  if (database !== undefined && now !== undefined) {
    throw new StoreError(
      "INVALID_ARGUMENT",
      "pass either a database or a clock: a database has its own clock",
    );
  }
  if (database !== undefined && !(database instanceof MemoryData)) {
    throw new StoreError("INVALID_ARGUMENT", "database must come from createMemoryDatabase");
  }
  const data = database ?? (createMemoryDatabase(now === undefined ? {} : { now }) as MemoryData);
  return createTypedStore(new MemoryBackend(data), options.namespace);
}
