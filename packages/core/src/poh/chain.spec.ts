import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashChain, hashChainAsync, JS_HASHES_PER_TURN, mixinHash } from "./chain.js";
import { pohHashers, pohImplementation } from "./hasher.js";

function referenceChain(start: Uint8Array, n: number): Uint8Array {
  let h = Buffer.from(start);
  for (let i = 0; i < n; i++) h = createHash("sha256").update(h).digest();
  return new Uint8Array(h);
}

function referenceMixin(h: Uint8Array, mixin: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(h).update(mixin).digest());
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const hashers = pohHashers();
const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });

describe("pohHashers", () => {
  it("lists the implementation in use first and the JavaScript fallback last", () => {
    expect(hashers[0]!.implementation).toBe(pohImplementation().implementation);
    expect(hashers.at(-1)!.implementation).toBe("js");
    const { implementation, fallbackReason } = pohImplementation();
    expect(implementation === "js").toBe(fallbackReason !== null);
  });
});

describe.each(hashers.map((hasher) => [hasher.implementation, hasher] as const))("%s hasher", (_, hasher) => {
  it("hashes the chain of known inputs as node:crypto does", () => {
    const zero = new Uint8Array(32);
    const ones = new Uint8Array(32).fill(0xff);
    const counting = Uint8Array.from({ length: 32 }, (_, i) => i);
    for (const start of [zero, ones, counting]) {
      for (const n of [0, 1, 2, 7, 100, 12_500]) {
        expect(hex(hashChain(start, n, hasher))).toBe(hex(referenceChain(start, n)));
      }
    }
  });

  it("equals node:crypto for random starts and lengths", () => {
    fc.assert(
      fc.property(hash32, fc.integer({ min: 0, max: 300 }), (start, n) => {
        expect(hex(hashChain(start, n, hasher))).toBe(hex(referenceChain(start, n)));
      }),
      { numRuns: 60 },
    );
  });

  it("records a mixin of any length as sha256(h ‖ mixin)", () => {
    fc.assert(
      fc.property(hash32, fc.uint8Array({ maxLength: 300 }), (h, mixin) => {
        expect(hex(mixinHash(h, mixin, hasher))).toBe(hex(referenceMixin(h, mixin)));
      }),
      { numRuns: 200 },
    );
  });

  it("returns a new array and leaves its input alone", () => {
    const start = Uint8Array.from({ length: 32 }, (_, i) => 3 * i);
    const copy = start.slice();
    const same = hashChain(start, 0, hasher);
    expect(same).not.toBe(start);
    expect(same).toEqual(start);
    hashChain(start, 5, hasher);
    mixinHash(start, Uint8Array.of(1), hasher);
    expect(start).toEqual(copy);
    // A Buffer's slice() is a view: the copy must not be one.
    const buffer = Buffer.alloc(32, 1);
    hashChain(buffer, 5, hasher);
    mixinHash(buffer, Uint8Array.of(1), hasher);
    expect(buffer.equals(Buffer.alloc(32, 1))).toBe(true);
  });

  it("hashes asynchronously to the same chain, letting the event loop run meanwhile", async () => {
    const start = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
    const n = 3 * JS_HASHES_PER_TURN + 17;
    const events: string[] = [];
    const pending = hashChainAsync(start, n, hasher).then((result) => {
      events.push("hashed");
      return result;
    });
    setImmediate(() => events.push("event loop ran"));
    const result = await pending;
    expect(events).toEqual(["event loop ran", "hashed"]);
    expect(hex(result)).toBe(hex(referenceChain(start, n)));
  });

  it("rejects a start that is not 32 bytes and counts that are not integers in [0, 2^53]", async () => {
    expect(() => hashChain(new Uint8Array(31), 1, hasher)).toThrow(RangeError);
    expect(() => mixinHash(new Uint8Array(33), new Uint8Array(1), hasher)).toThrow(RangeError);
    for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53 + 2]) {
      expect(() => hashChain(new Uint8Array(32), n, hasher)).toThrow(RangeError);
      await expect(hashChainAsync(new Uint8Array(32), n, hasher)).rejects.toThrow(RangeError);
    }
    expect(() => mixinHash(new Uint8Array(32), "x" as unknown as Uint8Array, hasher)).toThrow(TypeError);
  });
});

describe("every hasher", () => {
  it("gives the same chain (native == JS == node:crypto)", () => {
    fc.assert(
      fc.property(hash32, fc.integer({ min: 0, max: 2000 }), (start, n) => {
        const expected = hex(referenceChain(start, n));
        for (const hasher of hashers) expect(hex(hashChain(start, n, hasher))).toBe(expected);
      }),
      { numRuns: 40 },
    );
  });
});
