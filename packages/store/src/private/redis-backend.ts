import { type ChainableCommander, Redis } from "ioredis";
import { StoreError } from "../errors.js";
import type { IndexEntry, StoreStatus } from "../store.js";
import type { Backend, RawMember, RawOp, RawOutcome } from "./backend.js";
import { type RedisScriptName, redisScripts } from "./redis-scripts.js";
import { StatusCell } from "./status.js";

export interface RedisBackendOptions {
  readonly url: string;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly maxReconnectDelayMs: number;
  readonly clientName: string | undefined;
}

type Arg = string | Buffer | number;
type ScriptCall = (...args: Arg[]) => unknown;

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * ioredis replies with Buffers; codecs get plain Uint8Array views of them, as from the
 * in-process store (a protobuf decoder would otherwise hand out Buffers for bytes fields).
 */
function asBytes(reply: unknown): Uint8Array {
  if (!Buffer.isBuffer(reply)) throw unexpected(reply);
  return new Uint8Array(reply.buffer, reply.byteOffset, reply.byteLength);
}

function formatScore(score: number): string {
  if (score === Number.POSITIVE_INFINITY) return "+inf";
  if (score === Number.NEGATIVE_INFINITY) return "-inf";
  return String(score);
}

function parseScore(text: string): number {
  if (text === "inf" || text === "+inf") return Number.POSITIVE_INFINITY;
  if (text === "-inf") return Number.NEGATIVE_INFINITY;
  return Number(text);
}

function unexpected(reply: unknown): StoreError {
  return new StoreError("COMMAND", `unexpected reply from Redis: ${String(reply)}`);
}

/** Defined scripts are methods that ioredis adds at run time (EVAL on a new socket, EVALSHA after). */
function script(target: ChainableCommander, name: RedisScriptName, binaryReply = false): ScriptCall {
  const call = (target as unknown as Record<string, ScriptCall | undefined>)[
    binaryReply ? `${name}Buffer` : name
  ];
  if (!call) throw new StoreError("COMMAND", `script ${name} is not defined`);
  return call.bind(target);
}

/** Queues the commands of one operation on the pipeline; returns how to read its reply. */
function queue(pipeline: ChainableCommander, op: RawOp): (reply: unknown) => unknown {
  switch (op.kind) {
    case "get":
      pipeline.callBuffer("get", op.key);
      return (reply) => (reply === null ? undefined : asBytes(reply));
    case "set": {
      const args: Arg[] = [op.key, toBuffer(op.value)];
      if (op.ttlMs !== undefined) args.push("PX", op.ttlMs);
      if (op.ifAbsent) args.push("NX");
      pipeline.call("set", ...args);
      return (reply) => reply === "OK";
    }
    case "compareAndSet":
      script(pipeline, "simd23CompareAndSet")(
        op.key,
        op.expected === undefined ? "0" : "1",
        op.expected === undefined ? "" : toBuffer(op.expected),
        toBuffer(op.value),
        op.ttlMs ?? "",
      );
      return (reply) => reply === 1;
    case "delete":
      pipeline.call("del", op.key);
      return (reply) => reply === 1;
    case "expire":
      pipeline.call("pexpire", op.key, op.ttlMs);
      return (reply) => reply === 1;
    case "timeToLive":
      pipeline.call("pttl", op.key);
      return (reply) => {
        if (reply === -2) return undefined;
        if (reply === -1) return Number.POSITIVE_INFINITY;
        if (typeof reply !== "number") throw unexpected(reply);
        return reply;
      };
    case "increment":
      if (op.ttlMs === undefined) pipeline.call("incrby", op.key, op.by);
      else script(pipeline, "simd23IncrementWithTtl")(op.key, op.by, op.ttlMs);
      return (reply) => {
        if (typeof reply !== "number") throw unexpected(reply);
        return reply;
      };
    case "hashGetAll":
      pipeline.callBuffer("hgetall", op.key);
      return (reply) => {
        const fields = new Map<string, Uint8Array>();
        if (Array.isArray(reply)) {
          for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), asBytes(reply[i + 1]));
        } else if (reply && typeof reply === "object") {
          for (const [field, value] of Object.entries(reply)) fields.set(field, asBytes(value));
        } else {
          throw unexpected(reply);
        }
        return fields;
      };
    case "hashSet": {
      const args: Arg[] = [op.key, op.ifAbsent ? "1" : "0", op.ttlMs ?? ""];
      for (const [field, value] of op.fields) args.push(field, toBuffer(value));
      script(pipeline, "simd23HashSet")(...args);
      return (reply) => {
        if (!Array.isArray(reply)) throw unexpected(reply);
        return reply.map(String);
      };
    }
    case "indexAdd":
      if (op.ttlMs === undefined) pipeline.call("zadd", op.key, formatScore(op.score), op.member);
      else script(pipeline, "simd23IndexAddWithTtl")(op.key, op.ttlMs, formatScore(op.score), op.member);
      return (reply) => reply === 1;
    case "indexRemove":
      pipeline.call("zrem", op.key, op.member);
      return (reply) => reply === 1;
    case "indexRange": {
      const [from, to] = op.order === "asc" ? [op.min, op.max] : [op.max, op.min];
      const args: Arg[] = [op.key, formatScore(from), formatScore(to), "BYSCORE"];
      if (op.order === "desc") args.push("REV");
      if (op.offset > 0 || op.limit !== undefined) args.push("LIMIT", op.offset, op.limit ?? -1);
      args.push("WITHSCORES");
      pipeline.call("zrange", ...args);
      return (reply) => {
        if (!Array.isArray(reply)) throw unexpected(reply);
        const entries: IndexEntry[] = [];
        for (let i = 0; i + 1 < reply.length; i += 2) {
          entries.push({ member: String(reply[i]), score: parseScore(String(reply[i + 1])) });
        }
        return entries;
      };
    }
    case "indexScore":
      pipeline.call("zscore", op.key, op.member);
      return (reply) => (reply === null ? undefined : parseScore(String(reply)));
    case "indexSize":
      pipeline.call("zcard", op.key);
      return (reply) => reply;
    case "indexTrim":
      if ("belowScore" in op.trim)
        pipeline.call("zremrangebyscore", op.key, "-inf", `(${formatScore(op.trim.belowScore)}`);
      else pipeline.call("zremrangebyrank", op.key, 0, -(op.trim.keepHighest + 1));
      return (reply) => reply;
    case "join":
      script(pipeline, "simd23Join")(op.key, op.id, toBuffer(op.data), op.ttlMs, op.exclusive ? "1" : "0");
      return (reply) => reply === 1;
    case "renew":
      script(pipeline, "simd23Renew")(op.key, op.id, toBuffer(op.data), op.ttlMs);
      return (reply) => reply === 1;
    case "leave":
      script(pipeline, "simd23Leave")(
        op.key,
        op.id,
        op.data === undefined ? "0" : "1",
        op.data === undefined ? "" : toBuffer(op.data),
      );
      return (reply) => reply === 1;
    case "members":
      script(pipeline, "simd23Members", true)(op.key);
      return (reply) => {
        if (!Array.isArray(reply)) throw unexpected(reply);
        const members: RawMember[] = [];
        for (let i = 0; i + 2 < reply.length; i += 3) {
          members.push({
            id: (reply[i] as Buffer).toString("utf8"),
            expiresAtMs: Number((reply[i + 1] as Buffer).toString("latin1")),
            data: asBytes(reply[i + 2]),
          });
        }
        return members;
      };
  }
}

/**
 * The Redis adapter's connection. Commands fail fast instead of waiting for a connection:
 * no offline queue, in-flight commands fail when the connection drops (a write may or may not
 * have been applied, so none is silently resent), and the client reconnects forever with a
 * capped, jittered exponential backoff.
 */
export class RedisBackend implements Backend {
  readonly #client: Redis;
  readonly #status = new StatusCell("connecting");
  #lastError: Error | undefined;

  constructor(options: RedisBackendOptions) {
    this.#client = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: options.commandTimeoutMs,
      connectTimeout: options.connectTimeoutMs,
      retryStrategy: (attempt) => {
        const ceiling = Math.min(options.maxReconnectDelayMs, 50 * 2 ** Math.min(attempt, 16));
        return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
      },
      ...(options.clientName === undefined ? {} : { connectionName: options.clientName }),
    });
    for (const [name, lua] of Object.entries(redisScripts)) {
      this.#client.defineCommand(name, { numberOfKeys: 1, lua });
    }
    this.#client.on("ready", () => this.#status.set("connected"));
    this.#client.on("close", () => {
      // A failed reconnection attempt closes again: the store stays "reconnecting" until it is back.
      if (this.#status.status !== "reconnecting") this.#status.set("disconnected");
    });
    this.#client.on("reconnecting", () => this.#status.set("reconnecting"));
    this.#client.on("error", (error: Error) => {
      this.#lastError = error;
    });
  }

  get status(): StoreStatus {
    return this.#status.status;
  }

  get lastError(): Error | undefined {
    return this.#lastError;
  }

  onStatusChange(listener: (status: StoreStatus) => void): () => void {
    return this.#status.listen(listener);
  }

  async execute(ops: readonly RawOp[]): Promise<RawOutcome[]> {
    const unavailable = this.#unavailable();
    if (unavailable) return ops.map(() => ({ ok: false, error: unavailable }));
    const pipeline = this.#client.pipeline();
    const readers = ops.map((op) => queue(pipeline, op));
    let replies: Array<[error: Error | null, reply: unknown]> | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      const storeError = this.#toStoreError(error);
      return ops.map(() => ({ ok: false, error: storeError }));
    }
    return readers.map((read, i): RawOutcome => {
      const [error, reply] = replies?.[i] ?? [unexpected(replies), undefined];
      if (error) return { ok: false, error: this.#toStoreError(error) };
      try {
        return { ok: true, value: read(reply) };
      } catch (readError) {
        return { ok: false, error: this.#toStoreError(readError) };
      }
    });
  }

  async clear(prefix: string): Promise<number> {
    const unavailable = this.#unavailable();
    if (unavailable) throw unavailable;
    let deleted = 0;
    let cursor = "0";
    try {
      do {
        const [next, keys] = await this.#client.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
        cursor = next;
        if (keys.length > 0) deleted += await this.#client.unlink(...keys);
      } while (cursor !== "0");
    } catch (error) {
      throw this.#toStoreError(error);
    }
    return deleted;
  }

  async close(): Promise<void> {
    if (this.#status.status === "closed") return;
    const wasReady = this.#client.status === "ready";
    this.#status.set("closed");
    if (!wasReady) {
      this.#client.disconnect();
      return;
    }
    try {
      // QUIT lets the replies to commands already sent arrive first.
      await this.#client.quit();
    } catch {
      this.#client.disconnect();
    }
  }

  #unavailable(): StoreError | undefined {
    switch (this.#status.status) {
      case "connected":
        return undefined;
      case "closed":
        return new StoreError("CLOSED", "the store is closed");
      default:
        return new StoreError("DISCONNECTED", `Redis is not connected (${this.#status.status})`, {
          cause: this.#lastError,
        });
    }
  }

  #toStoreError(error: unknown): StoreError {
    if (error instanceof StoreError) return error;
    const cause = error instanceof Error ? error : new Error(String(error));
    if (cause.name === "ReplyError") return new StoreError("COMMAND", cause.message, { cause });
    if (this.#status.status === "closed") return new StoreError("CLOSED", "the store is closed", { cause });
    if (cause.message === "Command timed out") {
      return new StoreError("TIMEOUT", "Redis did not answer within the command timeout", { cause });
    }
    // What remains is the connection failing under the command: the stream was not writable,
    // the connection closed with the command in flight, or the socket errored.
    return new StoreError("DISCONNECTED", `the connection to Redis failed: ${cause.message}`, { cause });
  }
}
