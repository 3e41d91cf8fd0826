import type { Codec } from "../codec.js";
import { isWellFormedString } from "../codec.js";
import { StoreError } from "../errors.js";
import type { AnyKey, CounterKey, IndexKey, MembershipKey, RecordKey, ValueKey } from "../keys.js";
import type {
  Batch,
  IndexRangeOptions,
  IndexTrim,
  JoinOptions,
  Member,
  Store,
  StoreOperations,
  UpdateOptions,
  WriteOptions,
} from "../store.js";
import type { Backend, RawOpKind, RawOpOf, RawOutcome, RawResult } from "./backend.js";
import { compareCodePoints } from "./sorted-index.js";

const namespacePattern = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$/;

export function checkNamespace(namespace: string): string {
  if (typeof namespace !== "string" || !namespacePattern.test(namespace)) {
    throw new StoreError(
      "INVALID_ARGUMENT",
      `namespace ${JSON.stringify(namespace)} must be 1-128 characters of letters, digits and . _ / -, starting with a letter or digit`,
    );
  }
  return namespace;
}

function invalid(message: string): StoreError {
  return new StoreError("INVALID_ARGUMENT", message);
}

function checkTtl(ttlMs: unknown, what = "ttlMs"): number {
  if (typeof ttlMs !== "number" || !Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw invalid(`${what} must be a positive integer number of milliseconds, got ${String(ttlMs)}`);
  }
  return ttlMs;
}

function optionalTtl(options: WriteOptions | undefined): number | undefined {
  return options?.ttlMs === undefined ? undefined : checkTtl(options.ttlMs);
}

function checkCount(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${what} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

function checkText(value: unknown, what: string): string {
  if (typeof value !== "string") throw invalid(`${what} must be a string`);
  if (!isWellFormedString(value)) throw invalid(`${what} ${JSON.stringify(value)} has an unpaired surrogate`);
  return value;
}

function checkScore(score: unknown): number {
  if (typeof score !== "number" || !Number.isFinite(score)) {
    throw invalid(`an index score must be a finite number, got ${String(score)}`);
  }
  // Redis keeps -0 as 0; so does the in-process store.
  return score === 0 ? 0 : score;
}

function checkBound(bound: unknown, what: string): number {
  if (typeof bound !== "number" || Number.isNaN(bound))
    throw invalid(`${what} must be a number, got ${String(bound)}`);
  return bound;
}

function checkTrim(trim: IndexTrim): IndexTrim {
  if (typeof trim === "object" && trim !== null) {
    if ("belowScore" in trim && !("keepHighest" in trim))
      return { belowScore: checkBound(trim.belowScore, "belowScore") };
    if ("keepHighest" in trim && !("belowScore" in trim))
      return { keepHighest: checkCount(trim.keepHighest, "keepHighest") };
  }
  throw invalid("indexTrim takes exactly one of { belowScore } or { keepHighest }");
}

const keyKinds: ReadonlySet<unknown> = new Set(["value", "counter", "record", "index", "membership"]);

/** Keys are plain objects, so a caller without types could pass anything: it gets a typed error. */
function checkKey<K extends AnyKey>(key: K, kind: AnyKey["kind"] | undefined): K {
  if (typeof key !== "object" || key === null || typeof key.name !== "string" || !keyKinds.has(key.kind)) {
    throw invalid("not a key: build keys with valueKey, counterKey, recordKey, indexKey or membershipKey");
  }
  if (kind !== undefined && key.kind !== kind) {
    throw invalid(`key "${key.name}" is a ${key.kind} key; this operation takes a ${kind} key`);
  }
  return key;
}

function encodeWith<T>(codec: Codec<T>, value: T, keyName: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = codec.encode(value);
  } catch (error) {
    throw contextual("ENCODE", error, keyName, codec);
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new StoreError("ENCODE", `key "${keyName}": codec ${codec.name} did not produce bytes`);
  }
  return bytes;
}

function decodeWith<T>(codec: Codec<T>, bytes: Uint8Array, keyName: string): T {
  try {
    return codec.decode(bytes);
  } catch (error) {
    throw contextual("DECODE", error, keyName, codec);
  }
}

function contextual(
  code: "ENCODE" | "DECODE",
  error: unknown,
  keyName: string,
  codec: Codec<unknown>,
): StoreError {
  const detail = error instanceof Error ? error.message : String(error);
  const finalCode = error instanceof StoreError ? error.code : code;
  return new StoreError(finalCode, `key "${keyName}" (${codec.name}): ${detail}`, { cause: error });
}

function recordCodec<F extends object>(key: RecordKey<F>, field: string): Codec<unknown> | undefined {
  return Object.hasOwn(key.fields, field) ? (key.fields as Record<string, Codec<unknown>>)[field] : undefined;
}

function encodeFields<F extends object>(
  key: RecordKey<F>,
  fields: Partial<F>,
): Array<readonly [string, Uint8Array]> {
  if (typeof fields !== "object" || fields === null)
    throw invalid(`record "${key.name}": fields must be an object`);
  const encoded: Array<readonly [string, Uint8Array]> = [];
  for (const [field, value] of Object.entries(fields)) {
    const codec = recordCodec(key, field);
    if (!codec) throw invalid(`record "${key.name}" has no field "${field}"`);
    if (value === undefined) continue;
    encoded.push([field, encodeWith(codec, value, `${key.name}.${field}`)]);
  }
  return encoded;
}

type Enqueue = <K extends RawOpKind, R>(op: RawOpOf<K>, decode: (raw: RawResult<K>) => R) => Promise<R>;

const identity = <T>(value: T): T => value;

/**
 * The typed operations over one enqueue function: they validate and encode synchronously
 * (throwing on bad input before anything is queued) and decode the raw results.
 */
function operations(namespace: string, enqueue: Enqueue): StoreOperations {
  const full = (key: AnyKey, kind?: AnyKey["kind"]): string => `${namespace}:${checkKey(key, kind).name}`;
  return {
    get<T>(key: ValueKey<T>): Promise<T | undefined> {
      return enqueue({ kind: "get", key: full(key, "value") }, (raw) =>
        raw === undefined ? undefined : decodeWith(key.codec, raw, key.name),
      );
    },
    set<T>(key: ValueKey<T>, value: T, options?: WriteOptions): Promise<void> {
      const op = {
        kind: "set",
        key: full(key, "value"),
        value: encodeWith(key.codec, value, key.name),
        ttlMs: optionalTtl(options),
        ifAbsent: false,
      } as const;
      return enqueue(op, () => undefined);
    },
    setIfAbsent<T>(key: ValueKey<T>, value: T, options?: WriteOptions): Promise<boolean> {
      const op = {
        kind: "set",
        key: full(key, "value"),
        value: encodeWith(key.codec, value, key.name),
        ttlMs: optionalTtl(options),
        ifAbsent: true,
      } as const;
      return enqueue(op, identity);
    },
    delete(key: AnyKey): Promise<boolean> {
      return enqueue({ kind: "delete", key: full(key) }, identity);
    },
    expire(key: AnyKey, ttlMs: number): Promise<boolean> {
      return enqueue({ kind: "expire", key: full(key), ttlMs: checkTtl(ttlMs) }, identity);
    },
    timeToLive(key: AnyKey): Promise<number | undefined> {
      return enqueue({ kind: "timeToLive", key: full(key) }, identity);
    },
    increment(key: CounterKey, by = 1, options?: WriteOptions): Promise<number> {
      if (!Number.isSafeInteger(by))
        throw invalid(`counter "${key.name}": increment must be a safe integer, got ${by}`);
      return enqueue(
        { kind: "increment", key: full(key, "counter"), by, ttlMs: optionalTtl(options) },
        identity,
      );
    },
    getCounter(key: CounterKey): Promise<number> {
      return enqueue({ kind: "get", key: full(key, "counter") }, (raw) => {
        if (raw === undefined) return 0;
        const text = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString("latin1");
        const value = Number(text);
        if (!/^-?(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(value)) {
          throw new StoreError(
            "DECODE",
            `counter "${key.name}" holds ${JSON.stringify(text)}, not a safe integer`,
          );
        }
        return value;
      });
    },
    getRecord<F extends object>(key: RecordKey<F>): Promise<Partial<F> | undefined> {
      return enqueue({ kind: "hashGetAll", key: full(key, "record") }, (raw) => {
        if (raw.size === 0) return undefined;
        const record: Record<string, unknown> = {};
        for (const [field, bytes] of raw) {
          // Fields this schema does not know (written by a newer schema) are left out.
          const codec = recordCodec(key, field);
          if (codec) record[field] = decodeWith(codec, bytes, `${key.name}.${field}`);
        }
        return record as Partial<F>;
      });
    },
    setFields<F extends object>(
      key: RecordKey<F>,
      fields: Partial<F>,
      options?: WriteOptions,
    ): Promise<void> {
      const op = {
        kind: "hashSet",
        key: full(key, "record"),
        fields: encodeFields(key, fields),
        ifAbsent: false,
        ttlMs: optionalTtl(options),
      } as const;
      return enqueue(op, () => undefined);
    },
    setFieldsIfAbsent<F extends object>(
      key: RecordKey<F>,
      fields: Partial<F>,
      options?: WriteOptions,
    ): Promise<Array<keyof F & string>> {
      const op = {
        kind: "hashSet",
        key: full(key, "record"),
        fields: encodeFields(key, fields),
        ifAbsent: true,
        ttlMs: optionalTtl(options),
      } as const;
      return enqueue(op, (raw) => raw as Array<keyof F & string>);
    },
    indexAdd(key: IndexKey, member: string, score: number, options?: WriteOptions): Promise<boolean> {
      const op = {
        kind: "indexAdd",
        key: full(key, "index"),
        member: checkText(member, "an index member"),
        score: checkScore(score),
        ttlMs: optionalTtl(options),
      } as const;
      return enqueue(op, identity);
    },
    indexRemove(key: IndexKey, member: string): Promise<boolean> {
      return enqueue(
        { kind: "indexRemove", key: full(key, "index"), member: checkText(member, "an index member") },
        identity,
      );
    },
    indexRange(
      key: IndexKey,
      options: IndexRangeOptions = {},
    ): Promise<Array<{ member: string; score: number }>> {
      const order = options.order ?? "asc";
      if (order !== "asc" && order !== "desc")
        throw invalid(`order must be "asc" or "desc", got ${String(order)}`);
      const op = {
        kind: "indexRange",
        key: full(key, "index"),
        min: options.min === undefined ? Number.NEGATIVE_INFINITY : checkBound(options.min, "min"),
        max: options.max === undefined ? Number.POSITIVE_INFINITY : checkBound(options.max, "max"),
        order,
        offset: options.offset === undefined ? 0 : checkCount(options.offset, "offset"),
        limit: options.limit === undefined ? undefined : checkCount(options.limit, "limit"),
      } as const;
      return enqueue(op, identity);
    },
    indexScore(key: IndexKey, member: string): Promise<number | undefined> {
      return enqueue(
        { kind: "indexScore", key: full(key, "index"), member: checkText(member, "an index member") },
        identity,
      );
    },
    indexSize(key: IndexKey): Promise<number> {
      return enqueue({ kind: "indexSize", key: full(key, "index") }, identity);
    },
    indexTrim(key: IndexKey, trim: IndexTrim): Promise<number> {
      return enqueue({ kind: "indexTrim", key: full(key, "index"), trim: checkTrim(trim) }, identity);
    },
    join<T>(key: MembershipKey<T>, id: string, data: T, options: JoinOptions): Promise<boolean> {
      const op = {
        kind: "join",
        key: full(key, "membership"),
        id: checkText(id, "a member id"),
        data: encodeWith(key.codec, data, key.name),
        ttlMs: checkTtl(options?.ttlMs),
        exclusive: options.exclusive === true,
      } as const;
      return enqueue(op, identity);
    },
    renew<T>(
      key: MembershipKey<T>,
      id: string,
      data: T,
      options: { readonly ttlMs: number },
    ): Promise<boolean> {
      const op = {
        kind: "renew",
        key: full(key, "membership"),
        id: checkText(id, "a member id"),
        data: encodeWith(key.codec, data, key.name),
        ttlMs: checkTtl(options?.ttlMs),
      } as const;
      return enqueue(op, identity);
    },
    leave<T>(key: MembershipKey<T>, id: string, data?: T): Promise<boolean> {
      const op = {
        kind: "leave",
        key: full(key, "membership"),
        id: checkText(id, "a member id"),
        data: data === undefined ? undefined : encodeWith(key.codec, data, key.name),
      } as const;
      return enqueue(op, identity);
    },
    members<T>(key: MembershipKey<T>): Promise<Array<Member<T>>> {
      return enqueue({ kind: "members", key: full(key, "membership") }, (raw) =>
        [...raw]
          .sort((a, b) => compareCodePoints(a.id, b.id))
          .map((member) => ({
            id: member.id,
            data: decodeWith(key.codec, member.data, `${key.name}[${member.id}]`),
            expiresAtMs: member.expiresAtMs,
          })),
      );
    },
  };
}

// Listed as an object so that the compiler insists on every operation of StoreOperations.
const operationNames = Object.keys({
  get: true,
  set: true,
  setIfAbsent: true,
  delete: true,
  expire: true,
  timeToLive: true,
  increment: true,
  getCounter: true,
  getRecord: true,
  setFields: true,
  setFieldsIfAbsent: true,
  indexAdd: true,
  indexRemove: true,
  indexRange: true,
  indexScore: true,
  indexSize: true,
  indexTrim: true,
  join: true,
  renew: true,
  leave: true,
  members: true,
} satisfies Record<keyof StoreOperations, true>) as Array<keyof StoreOperations>;

/** The same operations, reporting bad input as a rejected promise instead of a throw. */
function rejectingInsteadOfThrowing(ops: StoreOperations): StoreOperations {
  const wrapped: Record<string, unknown> = {};
  for (const name of operationNames) {
    const operation = ops[name] as (...args: unknown[]) => Promise<unknown>;
    wrapped[name] = (...args: unknown[]): Promise<unknown> => {
      try {
        return operation(...args);
      } catch (error) {
        return Promise.reject(error);
      }
    };
  }
  return wrapped as unknown as StoreOperations;
}

function settle<R>(outcome: RawOutcome | undefined, decode: (raw: never) => R): R {
  if (!outcome) throw new StoreError("COMMAND", "the adapter returned no outcome for an operation");
  if (!outcome.ok) throw outcome.error;
  return decode(outcome.value as never);
}

const ignore = (): void => {};

function createBatch(backend: Backend, namespace: string): Batch {
  const queue: Array<{ op: RawOpOf<RawOpKind>; settle: (outcome: RawOutcome | undefined) => unknown }> = [];
  let committed = false;
  const enqueue: Enqueue = (op, decode) => {
    if (committed) throw invalid("this batch was already committed");
    let settleOne: (outcome: RawOutcome | undefined) => unknown = ignore;
    const promise = new Promise<ReturnType<typeof decode>>((resolve, reject) => {
      settleOne = (outcome) => {
        try {
          resolve(settle(outcome, decode as (raw: never) => ReturnType<typeof decode>));
        } catch (error) {
          reject(error);
          return error;
        }
        return undefined;
      };
    });
    // The caller may await only commit(); an operation's rejection must not go unhandled.
    promise.catch(ignore);
    queue.push({ op: op as RawOpOf<RawOpKind>, settle: settleOne });
    return promise;
  };
  return {
    ...operations(namespace, enqueue),
    get size() {
      return queue.length;
    },
    async commit(): Promise<void> {
      if (committed) throw invalid("this batch was already committed");
      committed = true;
      if (queue.length === 0) return;
      const outcomes = await backend.execute(queue.map((entry) => entry.op as never));
      let firstError: unknown;
      queue.forEach((entry, i) => {
        const error = entry.settle(outcomes[i]);
        if (error !== undefined && firstError === undefined) firstError = error;
      });
      if (firstError !== undefined) throw firstError;
    },
  };
}

async function runOne<K extends RawOpKind, R>(
  backend: Backend,
  op: RawOpOf<K>,
  decode: (raw: RawResult<K>) => R,
): Promise<R> {
  const [outcome] = await backend.execute([op as never]);
  return settle(outcome, decode as (raw: never) => R);
}

const defaultMaxAttempts = 100;
const maxBackoffMs = 20;

/** After a lost race, waits a random time that grows with the attempts, so racers spread out. */
function backoff(attempt: number): Promise<void> {
  if (attempt === 1) return new Promise((resolve) => setImmediate(resolve));
  const ceiling = Math.min(maxBackoffMs, 2 ** (attempt - 2));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}

/** A Store over a byte-level backend, with every key under `namespace`. */
export function createTypedStore(backend: Backend, namespace: string): Store {
  checkNamespace(namespace);
  const direct = rejectingInsteadOfThrowing(
    operations(namespace, (op, decode) => runOne(backend, op, decode)),
  );
  return {
    ...direct,
    namespace,
    get status() {
      return backend.status;
    },
    get ready() {
      return backend.status === "connected";
    },
    onStatusChange(listener) {
      return backend.onStatusChange(listener);
    },
    async update<T>(
      key: ValueKey<T>,
      fn: (current: T | undefined) => T,
      options?: UpdateOptions,
    ): Promise<T> {
      const ttlMs = optionalTtl(options);
      const maxAttempts =
        options?.maxAttempts === undefined
          ? defaultMaxAttempts
          : checkCount(options.maxAttempts, "maxAttempts");
      if (maxAttempts === 0) throw invalid("maxAttempts must be at least 1");
      const fullKey = `${namespace}:${checkKey(key, "value").name}`;
      for (let attempt = 1; ; attempt++) {
        const current = await runOne(backend, { kind: "get", key: fullKey }, identity);
        const next = fn(current === undefined ? undefined : decodeWith(key.codec, current, key.name));
        const value = encodeWith(key.codec, next, key.name);
        const written = await runOne(
          backend,
          { kind: "compareAndSet", key: fullKey, expected: current, value, ttlMs },
          identity,
        );
        if (written) return next;
        if (attempt >= maxAttempts) {
          throw new StoreError(
            "CONFLICT",
            `key "${key.name}": update lost to concurrent writers ${attempt} times`,
          );
        }
        await backoff(attempt);
      }
    },
    batch() {
      return createBatch(backend, namespace);
    },
    clear() {
      return backend.clear(`${namespace}:`);
    },
    close() {
      return backend.close();
    },
  };
}
