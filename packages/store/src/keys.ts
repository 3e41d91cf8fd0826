import type { Codec } from "./codec.js";
import { isWellFormedString } from "./codec.js";
import { StoreError } from "./errors.js";

/**
 * A key names one entry of the store (inside the store's namespace) and fixes what it holds.
 * Keys are plain descriptors, cheap to build per use: `recordKey(\`status/${signature}\`, fields)`.
 */
export interface AnyKey {
  readonly kind: "value" | "counter" | "record" | "index" | "membership";
  readonly name: string;
}

/** One value of type T. */
export interface ValueKey<T> {
  readonly kind: "value";
  readonly name: string;
  readonly codec: Codec<T>;
}

/** An integer counter (a 64-bit integer in Redis; read as a JS number). */
export interface CounterKey {
  readonly kind: "counter";
  readonly name: string;
}

/** The codec of every field of a record. */
export type RecordFields<F extends object> = { readonly [K in keyof F]-?: Codec<Exclude<F[K], undefined>> };

/** A small record of named fields, each set on its own (a Redis hash). */
export interface RecordKey<F extends object> {
  readonly kind: "record";
  readonly name: string;
  readonly fields: RecordFields<F>;
}

/** A sorted index: string members ordered by a numeric score (a Redis sorted set). */
export interface IndexKey {
  readonly kind: "index";
  readonly name: string;
}

/** Expiring membership: members with data of type T, each live until its lease expires. */
export interface MembershipKey<T> {
  readonly kind: "membership";
  readonly name: string;
  readonly codec: Codec<T>;
}

function checkName(name: string): string {
  if (typeof name !== "string" || name.length === 0) {
    throw new StoreError("INVALID_ARGUMENT", "a key name must be a non-empty string");
  }
  if (!isWellFormedString(name)) {
    throw new StoreError("INVALID_ARGUMENT", `key name ${JSON.stringify(name)} has an unpaired surrogate`);
  }
  return name;
}

function checkCodec<T>(codec: Codec<T>, name: string): Codec<T> {
  if (typeof codec?.encode !== "function" || typeof codec.decode !== "function") {
    throw new StoreError("INVALID_ARGUMENT", `key "${name}": a codec needs encode and decode functions`);
  }
  return codec;
}

export function valueKey<T>(name: string, codec: Codec<T>): ValueKey<T> {
  return { kind: "value", name: checkName(name), codec: checkCodec(codec, name) };
}

export function counterKey(name: string): CounterKey {
  return { kind: "counter", name: checkName(name) };
}

export function recordKey<F extends object>(name: string, fields: RecordFields<F>): RecordKey<F> {
  checkName(name);
  if (typeof fields !== "object" || fields === null) {
    throw new StoreError("INVALID_ARGUMENT", `record "${name}": fields must map each field name to a codec`);
  }
  for (const [field, codec] of Object.entries(fields))
    checkCodec(codec as Codec<unknown>, `${name}.${field}`);
  return { kind: "record", name, fields };
}

export function indexKey(name: string): IndexKey {
  return { kind: "index", name: checkName(name) };
}

export function membershipKey<T>(name: string, codec: Codec<T>): MembershipKey<T> {
  return { kind: "membership", name: checkName(name), codec: checkCodec(codec, name) };
}
