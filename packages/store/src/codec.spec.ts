import { control } from "@simd23/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  bigintCodec,
  bytesCodec,
  type Codec,
  integerCodec,
  jsonCodec,
  protoCodec,
  stringCodec,
} from "./codec.js";
import { isStoreError, type StoreErrorCode } from "./errors.js";

const text = new TextEncoder();

function failure(operation: () => unknown): unknown {
  try {
    operation();
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectCode(operation: () => unknown, code: StoreErrorCode): void {
  const error = failure(operation);
  expect(isStoreError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
}

function roundTrip<T>(codec: Codec<T>, value: T): T {
  return codec.decode(codec.encode(value));
}

describe("jsonCodec", () => {
  const codec = jsonCodec<unknown>();
  const leaf = fc.oneof(
    fc.bigInt(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
  );
  const value = fc.letrec((tie) => ({
    // An object whose only key is "$bigint" is the one value the codec refuses (tested below).
    node: fc.oneof(
      { depthSize: "small" },
      leaf,
      fc.array(tie("node")),
      fc.dictionary(
        fc.string().filter((key) => key !== "$bigint"),
        tie("node"),
      ),
    ),
  })).node;

  it("round-trips JSON values with bigints anywhere", () => {
    fc.assert(
      fc.property(value, (v) => {
        expect(roundTrip(codec, v)).toEqual(normalise(v));
      }),
    );
  });

  it("writes a bigint as a tagged decimal string", () => {
    expect(new TextDecoder().decode(codec.encode({ stake: 2n ** 64n }))).toBe(
      '{"stake":{"$bigint":"18446744073709551616"}}',
    );
    expect(codec.decode(text.encode('[{"$bigint":"-12"}]'))).toEqual([-12n]);
  });

  it("refuses values it could not read back", () => {
    expectCode(() => codec.encode({ $bigint: "1" }), "ENCODE");
    expectCode(() => codec.encode([Number.POSITIVE_INFINITY]), "ENCODE");
    expectCode(() => codec.encode(Number.NaN), "ENCODE");
    expectCode(() => codec.encode(undefined), "ENCODE");
    expectCode(() => codec.encode(() => 1), "ENCODE");
  });

  it("fails with DECODE on bytes that are not JSON, a malformed bigint tag, or a failed guard", () => {
    expectCode(() => codec.decode(text.encode("{")), "DECODE");
    expectCode(() => codec.decode(new Uint8Array([0x22, 0xff, 0x22])), "DECODE");
    expectCode(() => codec.decode(text.encode('{"$bigint":"1.5"}')), "DECODE");
    expectCode(() => codec.decode(text.encode('{"$bigint":7}')), "DECODE");
    const guarded = jsonCodec(
      (v): v is number[] => Array.isArray(v) && v.every((x) => typeof x === "number"),
    );
    expect(guarded.decode(text.encode("[1,2]"))).toEqual([1, 2]);
    expectCode(() => guarded.decode(text.encode('[1,"2"]')), "DECODE");
  });
});

/** What a value reads back as: -0 becomes 0, as JSON has no -0. */
function normalise(value: unknown): unknown {
  if (Object.is(value, -0)) return 0;
  if (Array.isArray(value)) return value.map(normalise);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]));
  }
  return value;
}

describe("stringCodec, bytesCodec, integerCodec, bigintCodec", () => {
  it("round-trip their values", () => {
    fc.assert(fc.property(fc.string({ unit: "grapheme" }), (s) => roundTrip(stringCodec, s) === s));
    fc.assert(fc.property(fc.uint8Array(), (b) => Buffer.from(roundTrip(bytesCodec, b)).equals(b)));
    fc.assert(fc.property(fc.maxSafeInteger(), (n) => roundTrip(integerCodec, n) === n));
    fc.assert(fc.property(fc.bigInt(), (n) => roundTrip(bigintCodec, n) === n));
  });

  it("decode bytes into a fresh plain Uint8Array", () => {
    const stored = Buffer.from([1, 2, 3]);
    const read = bytesCodec.decode(stored);
    expect(read.constructor).toBe(Uint8Array);
    stored[0] = 9;
    expect(read[0]).toBe(1);
  });

  it("refuse what they cannot encode", () => {
    expectCode(() => stringCodec.encode("\uD83D"), "ENCODE");
    expectCode(() => stringCodec.encode(5 as never), "ENCODE");
    expectCode(() => bytesCodec.encode([1, 2] as never), "ENCODE");
    expectCode(() => integerCodec.encode(2 ** 53), "ENCODE");
    expectCode(() => integerCodec.encode(1.5), "ENCODE");
    expectCode(() => bigintCodec.encode(5 as never), "ENCODE");
  });

  it("accept only canonical decimal integers", () => {
    for (const bad of ["", "-", "01", "+1", "1e3", " 1", "1.0", "-0x1", "9007199254740992"]) {
      expectCode(() => integerCodec.decode(text.encode(bad)), "DECODE");
    }
    for (const bad of ["", "01", "+1", "1e3", "1n"])
      expectCode(() => bigintCodec.decode(text.encode(bad)), "DECODE");
    expectCode(() => stringCodec.decode(new Uint8Array([0xc3])), "DECODE");
  });
});

describe("protoCodec", () => {
  const codec = protoCodec(control.TransactionResult, "TransactionResult");

  it("round-trips a message, with 64-bit fields as bigints", () => {
    const result = control.TransactionResult.fromPartial({
      signature: new Uint8Array(64).fill(3),
      fee: 2n ** 64n - 1n,
      slot: 4_000_000_000,
      proposer: new Uint8Array(32).fill(1),
    });
    expect(roundTrip(codec, result)).toEqual(result);
  });

  it("reports encoder and decoder errors as ENCODE and DECODE", () => {
    expectCode(() => codec.encode({ ...control.TransactionResult.fromPartial({}), fee: -1n }), "ENCODE");
    expectCode(() => codec.decode(new Uint8Array([0x0a, 0x05, 0x01])), "DECODE");
    expect(String(failure(() => codec.decode(new Uint8Array([0x0a, 0x05]))))).toContain("TransactionResult");
  });
});
