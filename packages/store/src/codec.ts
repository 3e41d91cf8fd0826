import { StoreError } from "./errors.js";

/**
 * Turns values of one type into the bytes the store keeps, and back. `decode` must accept
 * exactly what `encode` produces; both throw on bad input (the store reports a thrown error
 * as a StoreError with code `ENCODE` or `DECODE`). `encode` returns bytes that nothing alters
 * afterwards (the in-process store keeps them as they are).
 */
export interface Codec<T> {
  /** Names the format in error messages. */
  readonly name: string;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/**
 * The shape of a generated protobuf message type, such as a ts-proto `MessageFns<T>` from
 * `@simd23/proto`.
 */
export interface ProtoMessageFns<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(bytes: Uint8Array, codec: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch (error) {
    throw new StoreError("DECODE", `${codec}: the bytes are not valid UTF-8`, { cause: error });
  }
}

// A JS string with an unpaired surrogate has no UTF-8 form: encoding it would silently store
// U+FFFD instead, so such strings are refused.
const loneSurrogate = /[\uD800-\uDFFF]/u;

export function isWellFormedString(value: string): boolean {
  return !loneSurrogate.test(value);
}

/** UTF-8 text. */
export const stringCodec: Codec<string> = {
  name: "string",
  encode(value) {
    if (typeof value !== "string") throw new StoreError("ENCODE", "string: the value is not a string");
    if (!isWellFormedString(value))
      throw new StoreError("ENCODE", "string: the value has an unpaired surrogate");
    return utf8.encode(value);
  },
  decode(bytes) {
    return decodeUtf8(bytes, "string");
  },
};

/** Raw bytes, copied both ways, so the caller's array and the stored bytes never alias. */
export const bytesCodec: Codec<Uint8Array> = {
  name: "bytes",
  encode(value) {
    if (!(value instanceof Uint8Array))
      throw new StoreError("ENCODE", "bytes: the value is not a Uint8Array");
    return value.slice();
  },
  decode(bytes) {
    return new Uint8Array(bytes);
  },
};

const integerText = /^-?(0|[1-9][0-9]*)$/;

/** A safe integer as decimal text (the form Redis counters use). */
export const integerCodec: Codec<number> = {
  name: "integer",
  encode(value) {
    if (!Number.isSafeInteger(value))
      throw new StoreError("ENCODE", `integer: ${String(value)} is not a safe integer`);
    return utf8.encode(String(value));
  },
  decode(bytes) {
    const text = decodeUtf8(bytes, "integer");
    const value = Number(text);
    if (!integerText.test(text) || !Number.isSafeInteger(value)) {
      throw new StoreError("DECODE", `integer: ${JSON.stringify(text)} is not a safe integer`);
    }
    return value;
  },
};

/** A bigint of any size as decimal text (for protobuf uint64 fields such as times). */
export const bigintCodec: Codec<bigint> = {
  name: "bigint",
  encode(value) {
    if (typeof value !== "bigint") throw new StoreError("ENCODE", "bigint: the value is not a bigint");
    return utf8.encode(value.toString());
  },
  decode(bytes) {
    const text = decodeUtf8(bytes, "bigint");
    if (!integerText.test(text))
      throw new StoreError("DECODE", `bigint: ${JSON.stringify(text)} is not an integer`);
    return BigInt(text);
  },
};

const bigintTag = "$bigint";

function isBigintTagShape(value: object): boolean {
  if (Array.isArray(value)) return false;
  let only = false;
  for (const key in value) {
    if (key !== bigintTag || only) return false;
    only = true;
  }
  return only;
}

function jsonReplacer(_key: string, value: unknown): unknown {
  switch (typeof value) {
    case "bigint":
      return { [bigintTag]: value.toString() };
    case "number":
      if (!Number.isFinite(value)) throw new StoreError("ENCODE", `json: ${value} has no JSON form`);
      return value;
    case "object":
      if (value !== null && isBigintTagShape(value)) {
        throw new StoreError(
          "ENCODE",
          `json: an object whose only key is "${bigintTag}" is reserved for bigints`,
        );
      }
      return value;
    default:
      return value;
  }
}

function jsonReviver(_key: string, value: unknown): unknown {
  if (typeof value !== "object" || value === null || !isBigintTagShape(value)) return value;
  const digits = (value as Record<string, unknown>)[bigintTag];
  if (typeof digits !== "string" || !integerText.test(digits)) {
    throw new StoreError("DECODE", `json: malformed bigint ${JSON.stringify(value)}`);
  }
  return BigInt(digits);
}

/**
 * JSON as UTF-8, with bigints anywhere in the value: a bigint is written as the object
 * `{"$bigint":"<decimal>"}`, which is why a plain object whose only key is `$bigint` cannot be
 * encoded (ENCODE). Non-finite numbers cannot be encoded either, rather than turning into null.
 * Anything else follows JSON.stringify (undefined properties vanish, Dates become strings).
 * With `guard`, decoding checks the parsed value and fails with DECODE when it does not match.
 */
export function jsonCodec<T>(guard?: (value: unknown) => value is T): Codec<T> {
  return {
    name: "json",
    encode(value) {
      const text = JSON.stringify(value, jsonReplacer);
      if (text === undefined) throw new StoreError("ENCODE", "json: the value has no JSON form");
      return utf8.encode(text);
    },
    decode(bytes) {
      const text = decodeUtf8(bytes, "json");
      let value: unknown;
      try {
        value = JSON.parse(text, jsonReviver);
      } catch (error) {
        if (error instanceof StoreError) throw error;
        throw new StoreError("DECODE", "json: the bytes are not JSON", { cause: error });
      }
      if (guard && !guard(value))
        throw new StoreError("DECODE", "json: the value does not match the expected shape");
      return value as T;
    },
  };
}

/** A protobuf message in its binary wire form. */
export function protoCodec<T>(type: ProtoMessageFns<T>, name = "protobuf"): Codec<T> {
  return {
    name,
    encode(value) {
      try {
        return type.encode(value).finish();
      } catch (error) {
        throw new StoreError("ENCODE", `${name}: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
      }
    },
    decode(bytes) {
      try {
        return type.decode(bytes);
      } catch (error) {
        throw new StoreError("DECODE", `${name}: ${error instanceof Error ? error.message : String(error)}`, {
          cause: error,
        });
      }
    },
  };
}
