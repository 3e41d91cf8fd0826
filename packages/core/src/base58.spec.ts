import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromBase58, toBase58 } from "./base58.js";

describe("base58", () => {
  it("matches known vectors (leading zeros become '1')", () => {
    expect(toBase58(new Uint8Array([]))).toBe("");
    expect(toBase58(new Uint8Array([0, 0, 1]))).toBe("112");
    expect(toBase58(Buffer.from("hello world"))).toBe("StV1DL6CwTryKyV");
    // The all-zero 32-byte key is Solana's system program id.
    expect(toBase58(new Uint8Array(32))).toBe("11111111111111111111111111111111");
  });

  it("round-trips any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        expect(fromBase58(toBase58(bytes))).toEqual(bytes);
      }),
    );
  });

  it("names the first character outside the alphabet", () => {
    expect(() => fromBase58("abc0def")).toThrow(/invalid base58 character "0" at 3/);
    expect(() => fromBase58("Il")).toThrow(/"I" at 0/);
  });
});
