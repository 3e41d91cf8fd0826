import { StoreError } from "./errors.js";
import { RedisBackend } from "./private/redis-backend.js";
import { checkNamespace, createTypedStore } from "./private/typed-store.js";
import type { Store } from "./store.js";

export interface RedisStoreOptions {
  /** `redis://[[user]:password@]host[:port][/db]` (or `rediss://` for TLS). */
  readonly url: string;
  /** Every key is `<namespace>:<name>`, so test runs and testnets can share one Redis. */
  readonly namespace: string;
  /** An operation without a reply after this long fails with TIMEOUT (default 5,000 ms). */
  readonly commandTimeoutMs?: number;
  /** How long one connection attempt may take, and how long `connectRedisStore` waits (default 10,000 ms). */
  readonly connectTimeoutMs?: number;
  /** The cap of the reconnection backoff (default 2,000 ms); reconnection never gives up. */
  readonly maxReconnectDelayMs?: number;
  /** Shown by Redis's CLIENT LIST, e.g. the role and replica. */
  readonly clientName?: string;
  /**
   * Wait until connected (default true; rejects with DISCONNECTED after `connectTimeoutMs`).
   * With false the store is returned at once, in status `connecting`, and connects in the background.
   */
  readonly waitUntilReady?: boolean;
}

function positiveInteger(value: number | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new StoreError("INVALID_ARGUMENT", `${what} must be a positive integer, got ${value}`);
  }
  return value;
}

/** A store on Redis (via ioredis). */
export async function connectRedisStore(options: RedisStoreOptions): Promise<Store> {
  checkNamespace(options.namespace);
  if (typeof options.url !== "string" || !/^rediss?:\/\//.test(options.url)) {
    throw new StoreError(
      "INVALID_ARGUMENT",
      `url must be a redis:// or rediss:// URL, got ${String(options.url)}`,
    );
  }
  const connectTimeoutMs = positiveInteger(options.connectTimeoutMs, 10_000, "connectTimeoutMs");
  const backend = new RedisBackend({
    url: options.url,
    commandTimeoutMs: positiveInteger(options.commandTimeoutMs, 5_000, "commandTimeoutMs"),
    connectTimeoutMs,
    maxReconnectDelayMs: positiveInteger(options.maxReconnectDelayMs, 2_000, "maxReconnectDelayMs"),
    clientName: options.clientName,
  });
  const store = createTypedStore(backend, options.namespace);
  if (options.waitUntilReady === false || store.ready) return store;
  const connected = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => {
      stopListening();
      resolve(false);
    }, connectTimeoutMs);
    const stopListening = store.onStatusChange((status) => {
      if (status !== "connected") return;
      clearTimeout(timer);
      stopListening();
      resolve(true);
    });
  });
  if (connected) return store;
  const reason = backend.lastError?.message ?? "no answer";
  await store.close();
  throw new StoreError(
    "DISCONNECTED",
    `could not connect to Redis within ${connectTimeoutMs} ms: ${reason}`,
    {
      cause: backend.lastError,
    },
  );
}
