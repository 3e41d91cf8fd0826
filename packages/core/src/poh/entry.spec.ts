import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { firstInvalidEntry, firstInvalidEntryAsync, nextEntryHash, type PohEntry } from "./entry.js";
import { pohHashers } from "./hasher.js";

function referenceChain(start: Uint8Array, n: number): Uint8Array {
  let h = Buffer.from(start);
  for (let i = 0; i < n; i++) h = createHash("sha256").update(h).digest();
  return new Uint8Array(h);
}

function referenceMixin(h: Uint8Array, mixin: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha256").update(h).update(mixin).digest());
}

interface EntrySpec {
  readonly numHashes: number;
  readonly mixin: Uint8Array | null;
}

/** Entries built with node:crypto alone, independently of the code under test. */
function referenceEntries(start: Uint8Array, specs: readonly EntrySpec[]): PohEntry[] {
  let previous = start;
  return specs.map(({ numHashes, mixin }) => {
    const hash =
      mixin === null
        ? referenceChain(previous, numHashes)
        : referenceMixin(referenceChain(previous, numHashes - 1), mixin);
    previous = hash;
    return { numHashes, hash, mixin };
  });
}

type Verify = (start: Uint8Array, entries: readonly PohEntry[]) => Promise<number>;

/** Every way to verify: each hasher, sync on one thread, sync on all cores, async on all cores. */
const verifiers: readonly (readonly [string, Verify])[] = pohHashers().flatMap((hasher) => [
  [
    `${hasher.implementation} sync, 1 thread`,
    async (s, e) => firstInvalidEntry(s, e, { hasher, threads: 1 }),
  ],
  [`${hasher.implementation} sync, all cores`, async (s, e) => firstInvalidEntry(s, e, { hasher })],
  [`${hasher.implementation} async, all cores`, (s, e) => firstInvalidEntryAsync(s, e, { hasher })],
]);

async function everyVerifier(start: Uint8Array, entries: readonly PohEntry[]): Promise<number[]> {
  return Promise.all(verifiers.map(([, verify]) => verify(start, entries)));
}

const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 });
const mixinArbitrary = fc.uint8Array({ minLength: 1, maxLength: 64 });
const specsArbitrary = fc.array(
  fc.record({ numHashes: fc.integer({ min: 1, max: 40 }), mixin: fc.option(mixinArbitrary, { nil: null }) }),
  { minLength: 1, maxLength: 10 },
);
const chainArbitrary = fc
  .tuple(hash32, specsArbitrary)
  .map(([start, specs]) => ({ start, entries: referenceEntries(start, specs) }));

function replaceAt(entries: readonly PohEntry[], index: number, entry: PohEntry): PohEntry[] {
  return entries.map((original, i) => (i === index ? entry : original));
}

describe("nextEntryHash", () => {
  const start = Uint8Array.from({ length: 32 }, (_, i) => i);
  const mixin = new TextEncoder().encode("a UserBlock hash");

  it("hashes numHashes times without a mixin", () => {
    expect(nextEntryHash(start, 1, null)).toEqual(referenceChain(start, 1));
    expect(nextEntryHash(start, 64, null)).toEqual(referenceChain(start, 64));
  });

  it("counts the mixin hash in numHashes: numHashes − 1 plain hashes, then sha256(h ‖ mixin)", () => {
    expect(nextEntryHash(start, 1, mixin)).toEqual(referenceMixin(start, mixin));
    expect(nextEntryHash(start, 3, mixin)).toEqual(referenceMixin(referenceChain(start, 2), mixin));
  });

  it("rejects a count that is not an integer in [1, 2^53] and a previous hash that is not 32 bytes", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 53 + 2]) {
      expect(() => nextEntryHash(start, bad, null)).toThrow(RangeError);
      expect(() => nextEntryHash(start, bad, mixin)).toThrow(RangeError);
    }
    expect(() => nextEntryHash(new Uint8Array(31), 1, null)).toThrow(RangeError);
  });
});

describe("firstInvalidEntry", () => {
  const start = Uint8Array.from({ length: 32 }, (_, i) => 100 + i);
  const mixin = Uint8Array.of(9, 8, 7);
  const entries = referenceEntries(start, [
    { numHashes: 5, mixin: null },
    { numHashes: 1, mixin },
    { numHashes: 3, mixin },
    { numHashes: 12, mixin: null },
    { numHashes: 2, mixin: Uint8Array.of(1) },
  ]);

  it("accepts entries with and without mixins, and an empty list", async () => {
    expect(await everyVerifier(start, entries)).toEqual(verifiers.map(() => -1));
    expect(await everyVerifier(start, [])).toEqual(verifiers.map(() => -1));
  });

  it("rejects an entry whose numHashes leaves out the mixin hash", async () => {
    const short = replaceAt(entries, 2, { ...entries[2]!, numHashes: 2 });
    expect(await everyVerifier(start, short)).toEqual(verifiers.map(() => 2));
  });

  it("returns the first invalid index when several entries are bad", async () => {
    const bad = replaceAt(replaceAt(entries, 3, { ...entries[3]!, numHashes: 11 }), 1, {
      ...entries[1]!,
      mixin: null,
    });
    expect(await everyVerifier(start, bad)).toEqual(verifiers.map(() => 1));
    expect(await everyVerifier(new Uint8Array(32), entries)).toEqual(verifiers.map(() => 0));
  });

  it("treats a malformed entry as invalid", async () => {
    for (const numHashes of [0, -3, 2.5, Number.NaN, 2 ** 53 + 2]) {
      expect(await everyVerifier(start, replaceAt(entries, 3, { ...entries[3]!, numHashes }))).toEqual(
        verifiers.map(() => 3),
      );
    }
    const shortHash = replaceAt(entries, 4, { ...entries[4]!, hash: entries[4]!.hash.subarray(0, 31) });
    expect(await everyVerifier(start, shortHash)).toEqual(verifiers.map(() => 4));
    const bothBad = replaceAt(shortHash, 2, { ...entries[2]!, mixin: Uint8Array.of(0) });
    expect(await everyVerifier(start, bothBad)).toEqual(verifiers.map(() => 2));
  });

  it("rejects a start that is not 32 bytes and a bad thread count", async () => {
    expect(() => firstInvalidEntry(new Uint8Array(16), entries)).toThrow(RangeError);
    await expect(firstInvalidEntryAsync(new Uint8Array(16), entries)).rejects.toThrow(RangeError);
    for (const threads of [-1, 1.5, 70_000]) {
      expect(() => firstInvalidEntry(start, entries, { threads })).toThrow(RangeError);
      await expect(firstInvalidEntryAsync(start, entries, { threads })).rejects.toThrow(RangeError);
    }
  });

  it("catches any single-bit change in any entry's hash, at that entry", async () => {
    await fc.assert(
      fc.asyncProperty(
        chainArbitrary,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        async (chain, pick, bit) => {
          const index = pick % chain.entries.length;
          const entry = chain.entries[index]!;
          const hash = entry.hash.slice();
          hash[bit >> 3]! ^= 1 << (bit & 7);
          const tampered = replaceAt(chain.entries, index, { ...entry, hash });
          expect(await everyVerifier(chain.start, tampered)).toEqual(verifiers.map(() => index));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("catches any change of numHashes, at that entry", async () => {
    await fc.assert(
      fc.asyncProperty(
        chainArbitrary,
        fc.nat(),
        fc.integer({ min: 1, max: 80 }),
        async (chain, pick, delta) => {
          const index = pick % chain.entries.length;
          const entry = chain.entries[index]!;
          const numHashes = entry.numHashes > delta ? entry.numHashes - delta : entry.numHashes + delta;
          const tampered = replaceAt(chain.entries, index, { ...entry, numHashes });
          expect(await everyVerifier(chain.start, tampered)).toEqual(verifiers.map(() => index));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("catches any change of a mixin (added, removed, or altered), at that entry", async () => {
    const changedMixin = fc.oneof(
      fc.constant(null),
      mixinArbitrary,
      fc.record({ bit: fc.nat(), extra: fc.boolean() }),
    );
    await fc.assert(
      fc.asyncProperty(chainArbitrary, fc.nat(), changedMixin, async (chain, pick, change) => {
        const index = pick % chain.entries.length;
        const entry = chain.entries[index]!;
        let mixin: Uint8Array | null;
        if (change === null || change instanceof Uint8Array) {
          mixin = change;
        } else if (entry.mixin === null) {
          mixin = Uint8Array.of(change.bit & 0xff);
        } else if (change.extra) {
          mixin = Uint8Array.of(...entry.mixin, 0);
        } else {
          mixin = entry.mixin.slice();
          mixin[(change.bit >> 3) % mixin.length]! ^= 1 << (change.bit & 7);
        }
        const same =
          mixin === null
            ? entry.mixin === null
            : entry.mixin !== null && Buffer.from(mixin).equals(entry.mixin);
        fc.pre(!same);
        const tampered = replaceAt(chain.entries, index, { ...entry, mixin });
        expect(await everyVerifier(chain.start, tampered)).toEqual(verifiers.map(() => index));
      }),
      { numRuns: 60 },
    );
  });

  it("gives the same answer in parallel as in order, on batches big enough to use every core", async () => {
    // 24 entries of 2,000–6,000 hashes: enough work for the native verifier to start its threads.
    const longStart = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
    const specs = Array.from({ length: 24 }, (_, i) => ({
      numHashes: 2000 + ((i * 1777) % 4000),
      mixin: i % 3 === 0 ? Uint8Array.of(i) : null,
    }));
    const long = referenceEntries(longStart, specs);
    expect(await everyVerifier(longStart, long)).toEqual(verifiers.map(() => -1));
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(
          fc.record({ index: fc.nat({ max: long.length - 1 }), kind: fc.integer({ min: 0, max: 2 }) }),
          {
            maxLength: 3,
            selector: (tamper) => tamper.index,
          },
        ),
        async (tampers) => {
          let tampered: PohEntry[] = long;
          for (const { index, kind } of tampers) {
            const entry = tampered[index]!;
            const hash = entry.hash.slice();
            hash[kind]! ^= 0x80;
            const change: PohEntry =
              kind === 0
                ? { ...entry, hash }
                : kind === 1
                  ? { ...entry, numHashes: entry.numHashes + 1 }
                  : { ...entry, mixin: entry.mixin === null ? Uint8Array.of(1) : null };
            tampered = replaceAt(tampered, index, change);
          }
          const expected = tampers.length === 0 ? -1 : Math.min(...tampers.map((t) => t.index));
          expect(await everyVerifier(longStart, tampered)).toEqual(verifiers.map(() => expected));
        },
      ),
      { numRuns: 12 },
    );
  });
});
