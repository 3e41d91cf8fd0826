// The store contract: every behaviour the services rely on, written once and run by the
// adapters' specs against both the Redis store and the in-process one (memory.spec.ts,
// redis.spec.ts), and by contract.spec.ts against deliberately broken stores to show that each
// check catches the fault it is about. This is test code; no service imports it.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { control, voteaggregator } from "@simd23/proto";
import { expect } from "vitest";
import {
  bigintCodec,
  bytesCodec,
  connectRedisStore,
  counterKey,
  createMemoryDatabase,
  createMemoryStore,
  indexKey,
  integerCodec,
  jsonCodec,
  membershipKey,
  protoCodec,
  recordKey,
  type Store,
  StoreError,
  type StoreErrorCode,
  stringCodec,
  valueKey,
} from "../index.js";

/** A fresh, empty share of one adapter for one check. */
export interface ContractHarness {
  /**
   * A new store over the same data (for Redis, a new connection), in the harness's namespace
   * or, with a suffix, in a sibling namespace.
   */
  open(namespaceSuffix?: string): Promise<Store>;
  /** Lets `ms` pass on the store's clock: the in-process clock jumps, Redis is waited for. */
  elapse(ms: number): Promise<void>;
  /** A TTL unit long enough that nothing expires between a check's consecutive steps. */
  readonly ttlUnitMs: number;
  /** Closes every store opened and deletes every key written. */
  dispose(): Promise<void>;
}

export interface StoreSubject {
  readonly name: string;
  start(): Promise<ContractHarness>;
}

export interface ContractCheck {
  readonly name: string;
  run(harness: ContractHarness): Promise<void>;
}

async function expectStoreError(operation: Promise<unknown>, code: StoreErrorCode): Promise<StoreError> {
  const error = await operation.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error, `expected a StoreError ${code}`).toBeInstanceOf(StoreError);
  expect((error as StoreError).code).toBe(code);
  return error as StoreError;
}

function expectThrowsStoreError(operation: () => unknown, code: StoreErrorCode): void {
  let thrown: unknown;
  try {
    operation();
  } catch (error) {
    thrown = error;
  }
  expect(thrown, `expected a thrown StoreError ${code}`).toBeInstanceOf(StoreError);
  expect((thrown as StoreError).code).toBe(code);
}

const counterValue = valueKey("update/counter", jsonCodec<{ count: number }>());

export const contractChecks: readonly ContractCheck[] = [
  {
    name: "value keys: get, set, overwrite, delete",
    async run(h) {
      const store = await h.open();
      const key = valueKey("values/greeting", stringCodec);
      expect(await store.get(key)).toBeUndefined();
      await store.set(key, "hello");
      expect(await store.get(key)).toBe("hello");
      await store.set(key, "hello again");
      expect(await store.get(key)).toBe("hello again");
      expect(await store.delete(key)).toBe(true);
      expect(await store.delete(key)).toBe(false);
      expect(await store.get(key)).toBeUndefined();
    },
  },
  {
    name: "codecs round-trip through the store: JSON with bigints, string, bytes, integer, bigint, protobuf",
    async run(h) {
      const store = await h.open();
      const json = {
        slot: 12,
        stake: 18_446_744_073_709_551_615n,
        nested: { negative: -(2n ** 100n), list: [1n, "text", null, true, 0.5] },
        note: "ünïcødé 🚀",
      };
      const jsonKey = valueKey("codecs/json", jsonCodec<typeof json>());
      await store.set(jsonKey, json);
      expect(await store.get(jsonKey)).toEqual(json);

      const text = "héllo \u{1F600} \uFFFF\0end";
      const stringKey = valueKey("codecs/string", stringCodec);
      await store.set(stringKey, text);
      expect(await store.get(stringKey)).toBe(text);

      const bytes = new Uint8Array([0, 255, 124, 10, 13, 0, 128]);
      const bytesKey = valueKey("codecs/bytes", bytesCodec);
      await store.set(bytesKey, bytes);
      const readBytes = await store.get(bytesKey);
      expect(readBytes).toEqual(bytes);
      expect(readBytes?.constructor).toBe(Uint8Array);
      await store.set(bytesKey, new Uint8Array(0));
      expect(await store.get(bytesKey)).toEqual(new Uint8Array(0));

      const integerKey = valueKey("codecs/integer", integerCodec);
      await store.set(integerKey, -Number.MAX_SAFE_INTEGER);
      expect(await store.get(integerKey)).toBe(-Number.MAX_SAFE_INTEGER);

      const bigintKey = valueKey("codecs/bigint", bigintCodec);
      await store.set(bigintKey, -(2n ** 200n));
      expect(await store.get(bigintKey)).toBe(-(2n ** 200n));

      const status = voteaggregator.SignatureStatus.fromPartial({
        signature: new Uint8Array(64).fill(7),
        found: true,
        levels: [
          { level: voteaggregator.ConfirmationLevel.CONFIRMATION_LEVEL_RECEIVED, timeMs: 1_700_000_000_000n },
          {
            level: voteaggregator.ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED,
            timeMs: 18_446_744_073_709_551_615n,
          },
        ],
        result: { signature: new Uint8Array(64).fill(7), fee: 5000n, slot: 42, userBlockSlot: 85 },
      });
      const protoKey = valueKey(
        "codecs/proto",
        protoCodec(voteaggregator.SignatureStatus, "SignatureStatus"),
      );
      await store.set(protoKey, status);
      expect(await store.get(protoKey)).toEqual(status);
    },
  },
  {
    name: "stored bytes that do not decode fail with DECODE",
    async run(h) {
      const store = await h.open();
      const raw = valueKey("decode/raw", bytesCodec);
      await store.set(raw, new Uint8Array([0xff, 0xfe, 0x00]));
      await expectStoreError(store.get(valueKey("decode/raw", stringCodec)), "DECODE");
      await expectStoreError(store.get(valueKey("decode/raw", jsonCodec())), "DECODE");
      await expectStoreError(store.get(valueKey("decode/raw", integerCodec)), "DECODE");
      await expectStoreError(store.get(valueKey("decode/raw", bigintCodec)), "DECODE");
      await expectStoreError(
        store.get(valueKey("decode/raw", protoCodec(control.TransactionResult))),
        "DECODE",
      );
      await expectStoreError(store.getCounter(counterKey("decode/raw")), "DECODE");

      const text = valueKey("decode/text", stringCodec);
      await store.set(text, '{"$bigint":"12x"}');
      await expectStoreError(store.get(valueKey("decode/text", jsonCodec())), "DECODE");
      await store.set(text, '{"slot":"twelve"}');
      const isSlot = (value: unknown): value is { slot: number } =>
        typeof value === "object" && value !== null && typeof (value as { slot?: unknown }).slot === "number";
      await expectStoreError(store.get(valueKey("decode/text", jsonCodec(isSlot))), "DECODE");
      await store.set(text, "12.5");
      await expectStoreError(store.get(valueKey("decode/text", integerCodec)), "DECODE");

      const wide = recordKey("decode/record", { time: stringCodec });
      await store.setFields(wide, { time: "soon" });
      await expectStoreError(store.getRecord(recordKey("decode/record", { time: bigintCodec })), "DECODE");

      const members = membershipKey("decode/members", stringCodec);
      await store.join(members, "a", "not json", { ttlMs: 10 * h.ttlUnitMs });
      await expectStoreError(store.members(membershipKey("decode/members", jsonCodec())), "DECODE");
    },
  },
  {
    name: "values that cannot be encoded fail with ENCODE and write nothing",
    async run(h) {
      const store = await h.open();
      const key = valueKey("encode/json", jsonCodec<unknown>());
      await expectStoreError(store.set(key, { rate: Number.NaN }), "ENCODE");
      await expectStoreError(store.set(key, { $bigint: "5" }), "ENCODE");
      await expectStoreError(store.set(key, undefined), "ENCODE");
      await expectStoreError(store.set(valueKey("encode/string", stringCodec), "\uD800"), "ENCODE");
      await expectStoreError(store.set(valueKey("encode/integer", integerCodec), 0.5), "ENCODE");
      const tooLarge = { ...control.TransactionResult.fromPartial({}), fee: 2n ** 64n };
      await expectStoreError(
        store.set(valueKey("encode/proto", protoCodec(control.TransactionResult)), tooLarge),
        "ENCODE",
      );
      expect(await store.get(key)).toBeUndefined();
      expect(await store.timeToLive(valueKey("encode/integer", integerCodec))).toBeUndefined();
      // A nested object that merely contains the tag among other keys is ordinary data.
      await store.set(key, { $bigint: "5", other: 1 });
      expect(await store.get(key)).toEqual({ $bigint: "5", other: 1 });
    },
  },
  {
    name: "bad arguments fail with INVALID_ARGUMENT and write nothing",
    async run(h) {
      const store = await h.open();
      const key = valueKey("invalid/value", stringCodec);
      for (const ttlMs of [0, -5, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await expectStoreError(store.set(key, "x", { ttlMs }), "INVALID_ARGUMENT");
      }
      expect(await store.get(key)).toBeUndefined();
      const index = indexKey("invalid/index");
      await expectStoreError(store.indexAdd(index, "m", Number.NaN), "INVALID_ARGUMENT");
      await expectStoreError(store.indexAdd(index, "m", Number.POSITIVE_INFINITY), "INVALID_ARGUMENT");
      await expectStoreError(store.indexAdd(index, "\uDC00", 1), "INVALID_ARGUMENT");
      await expectStoreError(store.indexRange(index, { limit: -1 }), "INVALID_ARGUMENT");
      await expectStoreError(store.indexRange(index, { offset: 0.5 }), "INVALID_ARGUMENT");
      await expectStoreError(store.indexRange(index, { min: Number.NaN }), "INVALID_ARGUMENT");
      await expectStoreError(store.indexTrim(index, { keepHighest: -1 }), "INVALID_ARGUMENT");
      await expectStoreError(store.indexTrim(index, {} as never), "INVALID_ARGUMENT");
      expect(await store.indexSize(index)).toBe(0);
      await expectStoreError(store.increment(counterKey("invalid/counter"), 1.5), "INVALID_ARGUMENT");
      const record = recordKey<{ a: string }>("invalid/record", { a: stringCodec });
      await expectStoreError(store.setFields(record, { a: "x", b: "y" } as never), "INVALID_ARGUMENT");
      expect(await store.getRecord(record)).toBeUndefined();
      const members = membershipKey("invalid/members", stringCodec);
      await expectStoreError(store.join(members, "a", "x", { ttlMs: 0 }), "INVALID_ARGUMENT");
      expect(await store.members(members)).toEqual([]);
      await expectStoreError(
        store.update(key, () => "x", { maxAttempts: 0 }),
        "INVALID_ARGUMENT",
      );
      expectThrowsStoreError(() => valueKey("", stringCodec), "INVALID_ARGUMENT");
      expectThrowsStoreError(() => valueKey("invalid/codec", {} as never), "INVALID_ARGUMENT");
      expectThrowsStoreError(() => recordKey("invalid/fields", { a: null } as never), "INVALID_ARGUMENT");
      // Without types, a caller can hand over the wrong kind of key, or no key at all.
      await expectStoreError(store.set(counterKey("invalid/kind") as never, "x"), "INVALID_ARGUMENT");
      await expectStoreError(
        store.update(indexKey("invalid/kind") as never, () => "x"),
        "INVALID_ARGUMENT",
      );
      await expectStoreError(store.delete({ name: "invalid/kind" } as never), "INVALID_ARGUMENT");
      expect(await store.timeToLive(counterKey("invalid/kind"))).toBeUndefined();
    },
  },
  {
    name: "TTLs: a value expires after its TTL; set replaces the expiry, other writes keep it",
    async run(h) {
      const store = await h.open();
      const u = h.ttlUnitMs;
      const key = valueKey("ttl/value", stringCodec);
      expect(await store.timeToLive(key)).toBeUndefined();
      expect(await store.expire(key, u)).toBe(false);
      await store.set(key, "short-lived", { ttlMs: 3 * u });
      const ttl = await store.timeToLive(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(3 * u);
      await h.elapse(u);
      expect(await store.get(key)).toBe("short-lived");
      await h.elapse(3 * u);
      expect(await store.get(key)).toBeUndefined();
      expect(await store.timeToLive(key)).toBeUndefined();

      await store.set(key, "kept", { ttlMs: 3 * u });
      await store.set(key, "forever");
      expect(await store.timeToLive(key)).toBe(Number.POSITIVE_INFINITY);
      expect(await store.expire(key, 3 * u)).toBe(true);
      await store.update(key, (current) => `${current}!`);
      expect(await store.timeToLive(key)).toBeLessThanOrEqual(3 * u);
      await store.update(key, (current) => `${current}?`, { ttlMs: 100 * u });
      expect(await store.timeToLive(key)).toBeGreaterThan(3 * u);

      const counter = counterKey("ttl/counter");
      await store.increment(counter, 1, { ttlMs: 3 * u });
      await store.increment(counter);
      expect(await store.timeToLive(counter)).toBeLessThanOrEqual(3 * u);

      const record = recordKey("ttl/record", { a: stringCodec, b: stringCodec });
      await store.setFields(record, { a: "1" }, { ttlMs: 3 * u });
      await store.setFieldsIfAbsent(record, { b: "2" });
      expect(await store.timeToLive(record)).toBeLessThanOrEqual(3 * u);
      await h.elapse(4 * u);
      expect(await store.getCounter(counter)).toBe(0);
      expect(await store.getRecord(record)).toBeUndefined();
    },
  },
  {
    name: "setIfAbsent: writes only an absent key, and a race has exactly one winner",
    async run(h) {
      const stores = await Promise.all([h.open(), h.open(), h.open()]);
      const [first] = stores as [Store, ...Store[]];
      const key = valueKey("absent/leader", stringCodec);
      expect(await first.setIfAbsent(key, "a")).toBe(true);
      expect(await first.setIfAbsent(key, "b")).toBe(false);
      expect(await first.get(key)).toBe("a");

      for (let round = 0; round < 5; round++) {
        const raced = valueKey(`absent/race/${round}`, stringCodec);
        const contenders = Array.from({ length: 30 }, (_, i) => `contender-${i}`);
        const wins = await Promise.all(
          contenders.map((name, i) =>
            stores[i % stores.length]!.setIfAbsent(raced, name, { ttlMs: 100 * h.ttlUnitMs }),
          ),
        );
        const winners = contenders.filter((_, i) => wins[i]);
        expect(winners).toHaveLength(1);
        expect(await first.get(raced)).toBe(winners[0]);
      }
    },
  },
  {
    name: "update: concurrent updaters on one key never lose an increment",
    async run(h) {
      const stores = await Promise.all([h.open(), h.open(), h.open()]);
      const updaters = 24;
      const incrementsEach = 5;
      await Promise.all(
        Array.from({ length: updaters }, async (_, i) => {
          const store = stores[i % stores.length]!;
          for (let n = 0; n < incrementsEach; n++) {
            await store.update(counterValue, (current) => ({ count: (current?.count ?? 0) + 1 }), {
              maxAttempts: 1000,
            });
          }
        }),
      );
      expect(await stores[0]!.get(counterValue)).toEqual({ count: updaters * incrementsEach });
    },
  },
  {
    name: "update: sees the current value, writes what fn returns, propagates fn's error, reports CONFLICT",
    async run(h) {
      const store = await h.open();
      const key = valueKey("update/list", jsonCodec<string[]>());
      const seen: Array<string[] | undefined> = [];
      const append = (item: string) => (current: string[] | undefined) => {
        seen.push(current);
        return [...(current ?? []), item];
      };
      expect(await store.update(key, append("a"))).toEqual(["a"]);
      expect(await store.update(key, append("b"))).toEqual(["a", "b"]);
      expect(seen).toEqual([undefined, ["a"]]);
      expect(await store.get(key)).toEqual(["a", "b"]);

      const failure = new Error("refused by fn");
      await expect(
        store.update(key, () => {
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await store.get(key)).toEqual(["a", "b"]);

      // Every attempt is overtaken by a write sent before its compare-and-set.
      let attempts = 0;
      await expectStoreError(
        store.update(
          key,
          (current) => {
            attempts++;
            void store.set(key, [`interloper-${attempts}`]);
            return [...(current ?? []), "mine"];
          },
          { maxAttempts: 3 },
        ),
        "CONFLICT",
      );
      expect(attempts).toBe(3);
      expect(await store.get(key)).toEqual(["interloper-3"]);
    },
  },
  {
    name: "counters: increment, decrement, read, exact sums under concurrency, type errors",
    async run(h) {
      const stores = await Promise.all([h.open(), h.open()]);
      const store = stores[0]!;
      const key = counterKey("counters/requests");
      expect(await store.getCounter(key)).toBe(0);
      expect(await store.increment(key)).toBe(1);
      expect(await store.increment(key, 41)).toBe(42);
      expect(await store.increment(key, -50)).toBe(-8);
      expect(await store.getCounter(key)).toBe(-8);
      await Promise.all(Array.from({ length: 200 }, (_, i) => stores[i % 2]!.increment(key, 2)));
      expect(await store.getCounter(key)).toBe(392);

      const text = valueKey("counters/text", stringCodec);
      await store.set(text, "not a number");
      await expectStoreError(store.increment(counterKey("counters/text")), "COMMAND");
      expect(await store.get(text)).toBe("not a number");
      // Counters are 64-bit in Redis: overflowing one is refused, and one beyond 2^53 cannot be read exactly.
      await store.set(valueKey("counters/big", stringCodec), "9223372036854775807");
      await expectStoreError(store.increment(counterKey("counters/big")), "COMMAND");
      await expectStoreError(store.getCounter(counterKey("counters/big")), "DECODE");
    },
  },
  {
    name: "records: per-field set-if-absent, get-all, partial writes, unknown fields ignored",
    async run(h) {
      const store = await h.open();
      interface Status {
        received: bigint;
        recorded: bigint;
        executed: bigint;
        result: control.TransactionResult;
        droppedReason: string;
      }
      const fields = {
        received: bigintCodec,
        recorded: bigintCodec,
        executed: bigintCodec,
        result: protoCodec(control.TransactionResult),
        droppedReason: stringCodec,
      };
      const key = recordKey<Status>("records/status/sig1", fields);
      expect(await store.getRecord(key)).toBeUndefined();
      expect(await store.setFieldsIfAbsent(key, { received: 10n })).toEqual(["received"]);
      expect(await store.setFieldsIfAbsent(key, { received: 11n, recorded: 20n })).toEqual(["recorded"]);
      expect(await store.setFieldsIfAbsent(key, { received: 12n, recorded: 21n })).toEqual([]);
      expect(await store.setFieldsIfAbsent(key, {})).toEqual([]);
      const result = control.TransactionResult.fromPartial({
        signature: new Uint8Array([1, 2]),
        fee: 5000n,
        slot: 7,
      });
      await store.setFields(key, { executed: 30n, result, droppedReason: undefined });
      expect(await store.getRecord(key)).toEqual({ received: 10n, recorded: 20n, executed: 30n, result });
      await store.setFields(key, { executed: 31n });
      expect((await store.getRecord(key))?.executed).toBe(31n);

      const narrow = recordKey<{ received: bigint }>("records/status/sig1", { received: bigintCodec });
      expect(await store.getRecord(narrow)).toEqual({ received: 10n });
    },
  },
  {
    name: "records: racing set-if-absent writers of one field have exactly one winner",
    async run(h) {
      const stores = await Promise.all([h.open(), h.open(), h.open()]);
      for (let round = 0; round < 5; round++) {
        const key = recordKey<{ optimistic: string }>(`records/race/${round}`, { optimistic: stringCodec });
        const writers = Array.from({ length: 30 }, (_, i) => `writer-${i}`);
        const written = await Promise.all(
          writers.map((writer, i) =>
            stores[i % stores.length]!.setFieldsIfAbsent(key, { optimistic: writer }),
          ),
        );
        const winners = writers.filter((_, i) => written[i]!.length > 0);
        expect(winners).toHaveLength(1);
        expect(await stores[0]!.getRecord(key)).toEqual({ optimistic: winners[0] });
      }
    },
  },
  {
    name: "membership: join, list ordered by id, claim, renew and leave by the holder only",
    async run(h) {
      const store = await h.open();
      const ttlMs = 100 * h.ttlUnitMs;
      const key = membershipKey("members/proposers", jsonCodec<{ address: string }>());
      expect(await store.members(key)).toEqual([]);
      expect(await store.join(key, "proposer-2", { address: "10.0.0.2:50051" }, { ttlMs })).toBe(true);
      expect(await store.join(key, "proposer-1", { address: "10.0.0.1:50051" }, { ttlMs })).toBe(true);
      const listed = await store.members(key);
      expect(listed.map((m) => [m.id, m.data.address])).toEqual([
        ["proposer-1", "10.0.0.1:50051"],
        ["proposer-2", "10.0.0.2:50051"],
      ]);
      for (const member of listed) expect(member.expiresAtMs).toBeGreaterThan(1_600_000_000_000);

      const holder = { address: "10.0.0.1:50051" };
      const rival = { address: "10.0.0.9:50051" };
      expect(await store.join(key, "proposer-1", rival, { ttlMs, exclusive: true })).toBe(false);
      expect(await store.join(key, "proposer-1", holder, { ttlMs, exclusive: true })).toBe(true);
      expect(await store.renew(key, "proposer-1", rival, { ttlMs })).toBe(false);
      expect(await store.renew(key, "proposer-1", holder, { ttlMs })).toBe(true);
      expect(await store.renew(key, "proposer-7", holder, { ttlMs })).toBe(false);
      expect(await store.leave(key, "proposer-1", rival)).toBe(false);
      expect(await store.leave(key, "proposer-1", holder)).toBe(true);
      expect(await store.leave(key, "proposer-1")).toBe(false);
      expect(await store.leave(key, "proposer-2")).toBe(true);
      expect(await store.members(key)).toEqual([]);
      expect(await store.timeToLive(key)).toBeUndefined();
      // A non-exclusive join takes the id over whatever holds it.
      await store.join(key, "proposer-3", holder, { ttlMs, exclusive: true });
      expect(await store.join(key, "proposer-3", rival, { ttlMs })).toBe(true);
      expect((await store.members(key)).map((m) => m.data)).toEqual([rival]);
    },
  },
  {
    name: "membership: racing exclusive claims of one id have exactly one winner",
    async run(h) {
      const stores = await Promise.all([h.open(), h.open(), h.open()]);
      const key = membershipKey("members/claims", stringCodec);
      for (let round = 0; round < 5; round++) {
        const id = `pool-key-${round}`;
        const replicas = Array.from({ length: 20 }, (_, i) => `replica-${i}`);
        const won = await Promise.all(
          replicas.map((replica, i) =>
            stores[i % stores.length]!.join(key, id, replica, { ttlMs: 100 * h.ttlUnitMs, exclusive: true }),
          ),
        );
        const winners = replicas.filter((_, i) => won[i]);
        expect(winners).toHaveLength(1);
        const holder = (await stores[0]!.members(key)).find((m) => m.id === id);
        expect(holder?.data).toBe(winners[0]);
      }
    },
  },
  {
    name: "membership: members disappear after their TTL, renew extends, an expired lease can be claimed",
    async run(h) {
      const store = await h.open();
      const u = h.ttlUnitMs;
      const key = membershipKey("members/expiry", stringCodec);
      await store.join(key, "renewed", "holder-a", { ttlMs: 3 * u });
      await store.join(key, "lapsing", "holder-b", { ttlMs: 3 * u });
      await h.elapse(2 * u);
      expect((await store.members(key)).map((m) => m.id)).toEqual(["lapsing", "renewed"]);
      expect(await store.renew(key, "renewed", "holder-a", { ttlMs: 3 * u })).toBe(true);
      await h.elapse(2 * u);
      expect((await store.members(key)).map((m) => m.id)).toEqual(["renewed"]);
      expect(await store.renew(key, "lapsing", "holder-b", { ttlMs: 3 * u })).toBe(false);
      expect(await store.leave(key, "lapsing")).toBe(false);
      expect(await store.join(key, "lapsing", "holder-c", { ttlMs: 3 * u, exclusive: true })).toBe(true);
      await h.elapse(2 * u);
      expect((await store.members(key)).map((m) => [m.id, m.data])).toEqual([["lapsing", "holder-c"]]);
      await h.elapse(2 * u);
      expect(await store.members(key)).toEqual([]);
    },
  },
  {
    name: "sorted indexes: add, move, score, size, remove, and an emptied index vanishes",
    async run(h) {
      const store = await h.open();
      const key = indexKey("index/basic");
      expect(await store.indexSize(key)).toBe(0);
      expect(await store.indexRange(key)).toEqual([]);
      expect(await store.indexAdd(key, "sig-a", 5)).toBe(true);
      expect(await store.indexAdd(key, "sig-b", 2.5)).toBe(true);
      expect(await store.indexAdd(key, "sig-a", -1e-7)).toBe(false);
      expect(await store.indexAdd(key, "sig-a", -1e-7)).toBe(false);
      expect(await store.indexScore(key, "sig-a")).toBe(-1e-7);
      expect(await store.indexScore(key, "sig-z")).toBeUndefined();
      expect(await store.indexSize(key)).toBe(2);
      expect(await store.indexRemove(key, "sig-a")).toBe(true);
      expect(await store.indexRemove(key, "sig-a")).toBe(false);
      expect(await store.indexAdd(key, "big", 2 ** 53 + 2)).toBe(true);
      expect(await store.indexScore(key, "big")).toBe(2 ** 53 + 2);
      await store.indexRemove(key, "big");
      await store.indexRemove(key, "sig-b");
      expect(await store.indexSize(key)).toBe(0);
      expect(await store.timeToLive(key)).toBeUndefined();
      await store.indexAdd(key, "expiring", 1, { ttlMs: 3 * h.ttlUnitMs });
      expect(await store.timeToLive(key)).toBeLessThanOrEqual(3 * h.ttlUnitMs);
      await h.elapse(4 * h.ttlUnitMs);
      expect(await store.indexSize(key)).toBe(0);
    },
  },
  {
    name: "sorted indexes: ranges by score with bounds, order, offset, limit, and ties by member",
    async run(h) {
      const store = await h.open();
      const key = indexKey("index/range");
      // Ties order by member in code point (UTF-8 byte) order: U+FFFF sorts before U+1F600.
      const entries: Array<[string, number]> = [
        ["s5", 5],
        ["s1", 1],
        ["s3b", 3],
        ["s3a", 3],
        ["s2", 2],
        ["s4", 4],
        ["\u{1F600}", 3],
        ["\uFFFF", 3],
        ["neg", -10],
      ];
      for (const [member, score] of entries) await store.indexAdd(key, member, score);
      const members = async (options: Parameters<Store["indexRange"]>[1]) =>
        (await store.indexRange(key, options)).map((entry) => entry.member);
      expect(await store.indexRange(key, { min: 2, max: 2 })).toEqual([{ member: "s2", score: 2 }]);
      expect(await members({})).toEqual(["neg", "s1", "s2", "s3a", "s3b", "\uFFFF", "\u{1F600}", "s4", "s5"]);
      expect(await members({ min: 2, max: 4 })).toEqual(["s2", "s3a", "s3b", "\uFFFF", "\u{1F600}", "s4"]);
      expect(await members({ min: 2, max: 4, order: "desc" })).toEqual([
        "s4",
        "\u{1F600}",
        "\uFFFF",
        "s3b",
        "s3a",
        "s2",
      ]);
      expect(await members({ min: 2, limit: 3 })).toEqual(["s2", "s3a", "s3b"]);
      expect(await members({ max: 3, order: "desc", limit: 2 })).toEqual(["\u{1F600}", "\uFFFF"]);
      expect(await members({ offset: 2, limit: 2 })).toEqual(["s2", "s3a"]);
      expect(await members({ offset: 7 })).toEqual(["s4", "s5"]);
      expect(await members({ order: "desc", offset: 1, limit: 1 })).toEqual(["s4"]);
      expect(await members({ limit: 0 })).toEqual([]);
      expect(await members({ min: 6 })).toEqual([]);
      expect(await members({ min: 4, max: 2 })).toEqual([]);
      expect(await members({ min: Number.NEGATIVE_INFINITY, max: -10 })).toEqual(["neg"]);
    },
  },
  {
    name: "sorted indexes: trim below a score or to the highest N",
    async run(h) {
      const store = await h.open();
      const key = indexKey("index/trim");
      for (let slot = 1; slot <= 10; slot++) await store.indexAdd(key, `slot-${slot}`, slot);
      expect(await store.indexTrim(key, { belowScore: 4 })).toBe(3);
      expect(await store.indexTrim(key, { belowScore: 4 })).toBe(0);
      expect((await store.indexRange(key, { limit: 1 }))[0]).toEqual({ member: "slot-4", score: 4 });
      expect(await store.indexTrim(key, { keepHighest: 3 })).toBe(4);
      expect((await store.indexRange(key)).map((e) => e.member)).toEqual(["slot-8", "slot-9", "slot-10"]);
      expect(await store.indexTrim(key, { keepHighest: 5 })).toBe(0);
      expect(await store.indexTrim(key, { keepHighest: 0 })).toBe(3);
      expect(await store.indexSize(key)).toBe(0);
      expect(await store.indexTrim(indexKey("index/absent"), { belowScore: 1 })).toBe(0);
    },
  },
  {
    name: "operations on a key of another type fail with COMMAND and change nothing",
    async run(h) {
      const store = await h.open();
      const value = valueKey("types/value", stringCodec);
      await store.set(value, "text");
      await expectStoreError(store.indexAdd(indexKey("types/value"), "m", 1), "COMMAND");
      await expectStoreError(store.getRecord(recordKey("types/value", { a: stringCodec })), "COMMAND");
      await expectStoreError(store.members(membershipKey("types/value", stringCodec)), "COMMAND");
      await store.indexAdd(indexKey("types/index"), "m", 1);
      await expectStoreError(store.get(valueKey("types/index", stringCodec)), "COMMAND");
      await expectStoreError(
        store.update(valueKey("types/index", stringCodec), () => "x"),
        "COMMAND",
      );
      expect(await store.get(value)).toBe("text");
      expect(await store.indexSize(indexKey("types/index"))).toBe(1);
      // A membership is a hash of leases: reading a plain record as one fails rather than listing nothing.
      const record = recordKey("types/record", { a: stringCodec });
      await store.setFields(record, { a: "x" });
      await expectStoreError(store.members(membershipKey("types/record", stringCodec)), "COMMAND");
      await expectStoreError(
        store.renew(membershipKey("types/record", stringCodec), "a", "x", { ttlMs: 1_000 }),
        "COMMAND",
      );
      expect(await store.getRecord(record)).toEqual({ a: "x" });
    },
  },
  {
    name: "batches: many operations in one commit, each with its own result, applied in order",
    async run(h) {
      const store = await h.open();
      const batch = store.batch();
      const statuses = Array.from({ length: 500 }, (_, i) =>
        recordKey<{ received: bigint }>(`batch/status/${String(i).padStart(3, "0")}`, {
          received: bigintCodec,
        }),
      );
      const written = statuses.map((key, i) =>
        batch.setFieldsIfAbsent(key, { received: BigInt(i) }, { ttlMs: 100 * h.ttlUnitMs }),
      );
      const bySlot = indexKey("batch/by-slot");
      const added = statuses.map((_, i) =>
        batch.indexAdd(bySlot, `sig-${String(i).padStart(3, "0")}`, i % 7),
      );
      const value = valueKey("batch/value", stringCodec);
      const set = batch.set(value, "first");
      const read = batch.get(value);
      const claimed = batch.setIfAbsent(value, "second");
      const counted = batch.increment(counterKey("batch/counter"), 3);
      const size = batch.indexSize(bySlot);
      expect(batch.size).toBe(1005);
      await batch.commit();
      expect((await Promise.all(written)).every((fields) => fields.length === 1)).toBe(true);
      expect((await Promise.all(added)).every(Boolean)).toBe(true);
      expect(await set).toBeUndefined();
      expect(await read).toBe("first");
      expect(await claimed).toBe(false);
      expect(await counted).toBe(3);
      expect(await size).toBe(500);
      expect(await store.getRecord(statuses[499]!)).toEqual({ received: 499n });
      expect(await store.indexRange(bySlot, { min: 6, max: 6, limit: 2 })).toEqual([
        { member: "sig-006", score: 6 },
        { member: "sig-013", score: 6 },
      ]);

      const reads = store.batch();
      const records = statuses.slice(0, 3).map((key) => reads.getRecord(key));
      await reads.commit();
      expect(await Promise.all(records)).toEqual([{ received: 0n }, { received: 1n }, { received: 2n }]);
      await expect(reads.commit()).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
      await store.batch().commit();
    },
  },
  {
    name: "batches: bad input throws at once and queues nothing; a failing operation fails the commit, not the others",
    async run(h) {
      const store = await h.open();
      const batch = store.batch();
      const good = valueKey("batch-errors/good", stringCodec);
      batch.set(good, "kept");
      expectThrowsStoreError(() => batch.set(good, "x", { ttlMs: -1 }), "INVALID_ARGUMENT");
      expectThrowsStoreError(
        () => batch.set(valueKey("batch-errors/json", jsonCodec()), Number.NaN),
        "ENCODE",
      );
      expect(batch.size).toBe(1);
      const text = valueKey("batch-errors/text", stringCodec);
      await store.set(text, "not a counter");
      const failing = batch.increment(counterKey("batch-errors/text"));
      const after = batch.set(valueKey("batch-errors/after", stringCodec), "applied");
      const error = await expectStoreError(batch.commit(), "COMMAND");
      await expect(failing).rejects.toBe(error);
      expect(await after).toBeUndefined();
      expect(await store.get(good)).toBe("kept");
      expect(await store.get(valueKey("batch-errors/after", stringCodec))).toBe("applied");
      expect(await store.get(valueKey("batch-errors/json", jsonCodec()))).toBeUndefined();
    },
  },
  {
    name: "namespaces: a store sees only its own namespace, and clear deletes only it",
    async run(h) {
      const [mine, sameNamespace, other] = await Promise.all([h.open(), h.open(), h.open("other")]);
      expect(sameNamespace.namespace).toBe(mine.namespace);
      expect(other.namespace).not.toBe(mine.namespace);
      const key = valueKey("namespaces/shared-name", stringCodec);
      await mine.set(key, "mine");
      expect(await sameNamespace.get(key)).toBe("mine");
      expect(await other.get(key)).toBeUndefined();
      await other.set(key, "theirs");
      expect(await mine.get(key)).toBe("mine");
      await mine.indexAdd(indexKey("namespaces/index"), "m", 1);
      await mine.increment(counterKey("namespaces/counter"));
      expect(await mine.clear()).toBe(3);
      expect(await sameNamespace.get(key)).toBeUndefined();
      expect(await other.get(key)).toBe("theirs");
      expect(await mine.clear()).toBe(0);
    },
  },
  {
    name: "status and close: connected while open; after close, CLOSED and a closed event",
    async run(h) {
      const store = await h.open();
      expect(store.status).toBe("connected");
      expect(store.ready).toBe(true);
      const seen: string[] = [];
      const stop = store.onStatusChange((status) => seen.push(status));
      const other = await h.open();
      await store.close();
      expect(store.status).toBe("closed");
      expect(store.ready).toBe(false);
      expect(seen).toEqual(["closed"]);
      stop();
      await store.close();
      const key = valueKey("closed/value", stringCodec);
      await expectStoreError(store.get(key), "CLOSED");
      await expectStoreError(store.set(key, "x"), "CLOSED");
      await expectStoreError(
        store.update(key, () => "x"),
        "CLOSED",
      );
      const batch = store.batch();
      const queued = batch.set(key, "x");
      await expectStoreError(batch.commit(), "CLOSED");
      await expectStoreError(queued, "CLOSED");
      // Closing one store leaves the others working.
      await other.set(key, "still here");
      expect(await other.get(key)).toBe("still here");
    },
  },
];

/** The check whose name starts with `name`. */
export function contractCheck(name: string): ContractCheck {
  const check = contractChecks.find((candidate) => candidate.name.startsWith(name));
  if (!check) throw new Error(`no contract check named ${name}`);
  return check;
}

/** Runs one check on a fresh harness of the subject, disposing of it afterwards. */
export async function runCheck(subject: StoreSubject, check: ContractCheck): Promise<void> {
  const harness = await subject.start();
  try {
    await check.run(harness);
  } finally {
    await harness.dispose();
  }
}

/** The in-process store on a clock the checks move by hand. */
export function memorySubject(): StoreSubject {
  return {
    name: "in-process",
    async start() {
      let clock = Date.now();
      const database = createMemoryDatabase({ now: () => clock });
      const namespace = `contract/${randomUUID()}`;
      const stores: Store[] = [];
      return {
        ttlUnitMs: 1_000,
        async open(suffix) {
          const store = createMemoryStore({
            namespace: suffix ? `${namespace}/${suffix}` : namespace,
            database,
          });
          stores.push(store);
          return store;
        },
        async elapse(ms) {
          clock += ms;
        },
        async dispose() {
          await Promise.all(stores.map((store) => store.close()));
        },
      };
    },
  };
}

export const redisUrl = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";

/** The Redis store on a real server, each harness in a namespace of its own that it deletes afterwards. */
export function redisSubject(url = redisUrl): StoreSubject {
  return {
    name: "Redis",
    async start() {
      const namespace = `simd23-test/store/${randomUUID()}`;
      const stores: Store[] = [];
      const namespaces = new Set<string>();
      return {
        // Redis expiry runs on real time: a unit leaves room for a slow, shared machine.
        ttlUnitMs: 300,
        async open(suffix) {
          const store = await connectRedisStore({
            url,
            namespace: suffix ? `${namespace}/${suffix}` : namespace,
          });
          stores.push(store);
          namespaces.add(store.namespace);
          return store;
        },
        elapse: (ms) => sleep(ms),
        async dispose() {
          for (const used of namespaces) {
            const cleaner = await connectRedisStore({ url, namespace: used });
            await cleaner.clear();
            await cleaner.close();
          }
          await Promise.all(stores.map((store) => store.close()));
        },
      };
    },
  };
}
