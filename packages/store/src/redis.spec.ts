import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { connect, createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { jsonCodec, stringCodec } from "./codec.js";
import { isStoreError, type StoreErrorCode } from "./errors.js";
import { indexKey, membershipKey, recordKey, valueKey } from "./keys.js";
import { createMemoryStore } from "./memory.js";
import { contractChecks, redisSubject, redisUrl, runCheck } from "./private/contract.js";
import { connectRedisStore } from "./redis.js";
import type { Store, StoreStatus } from "./store.js";

describe("the Redis store passes the store contract", () => {
  const subject = redisSubject();
  for (const check of contractChecks) it(check.name, () => runCheck(subject, check));
});

async function rejection(operation: Promise<unknown>): Promise<unknown> {
  return operation.then(
    () => undefined,
    (error: unknown) => error,
  );
}

async function expectCode(operation: Promise<unknown>, code: StoreErrorCode): Promise<void> {
  const error = await rejection(operation);
  expect(isStoreError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  server.close();
  await once(server, "close");
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

async function accepts(port: number): Promise<boolean> {
  const socket = connect(port, "127.0.0.1");
  try {
    await once(socket, "connect");
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(10);
  }
}

/** A private, throwaway redis-server that the test can kill and restart on the same port. */
class PrivateRedis {
  #process: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.#process = spawn(
      "/usr/bin/redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    await until(() => accepts(this.port), 10_000, `redis-server listens on ${this.port}`);
  }

  async kill(): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = once(child, "exit");
    child.kill("SIGKILL");
    await exited;
  }
}

describe("the Redis store's connection", () => {
  const servers: PrivateRedis[] = [];
  const stores: Store[] = [];
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
    await Promise.all(servers.map((server) => server.kill()));
  });

  async function privateRedis(): Promise<PrivateRedis> {
    const server = new PrivateRedis(await freePort());
    servers.push(server);
    await server.start();
    return server;
  }

  it("fails fast with DISCONNECTED while Redis is away, reports it, and recovers when Redis returns", async () => {
    const server = await privateRedis();
    const store = await connectRedisStore({ url: server.url, namespace: "loss", maxReconnectDelayMs: 200 });
    stores.push(store);
    const seen: StoreStatus[] = [];
    store.onStatusChange((status) => seen.push(status));
    const key = valueKey("k", stringCodec);
    await store.set(key, "before");
    expect(store.ready).toBe(true);

    await server.kill();
    await until(() => !store.ready, 5_000, "the store notices");
    expect(seen[0]).toBe("disconnected");
    const started = performance.now();
    await expectCode(store.get(key), "DISCONNECTED");
    await expectCode(store.set(key, "during"), "DISCONNECTED");
    await expectCode(
      store.update(key, () => "during"),
      "DISCONNECTED",
    );
    const batch = store.batch();
    const queued = batch.set(key, "during");
    await expectCode(batch.commit(), "DISCONNECTED");
    await expectCode(queued, "DISCONNECTED");
    await expectCode(store.clear(), "DISCONNECTED");
    expect(performance.now() - started).toBeLessThan(250);
    await until(() => seen.includes("reconnecting"), 2_000, "the store reconnects");

    // Redis comes back empty (no persistence): the store reconnects on its own.
    await server.start();
    await until(() => store.ready, 10_000, "the store is ready again");
    expect(store.status).toBe("connected");
    expect(seen.at(-1)).toBe("connected");
    expect(seen.filter((status) => status === "disconnected")).toHaveLength(1);
    expect(await store.get(key)).toBeUndefined();
    await store.set(key, "after");
    expect(await store.get(key)).toBe("after");
  });

  it("fails a command in flight when the connection drops, instead of waiting or resending it", async () => {
    const server = await privateRedis();
    const store = await connectRedisStore({
      url: server.url,
      namespace: "in-flight",
      maxReconnectDelayMs: 200,
    });
    stores.push(store);
    const admin = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    admin.on("error", () => {});
    await admin.call("client", "pause", "10000", "ALL");
    const inFlight = rejection(store.set(valueKey("k", stringCodec), "lost?"));
    await sleep(50);
    const started = performance.now();
    await server.kill();
    const error = await inFlight;
    expect(isStoreError(error, "DISCONNECTED"), String(error)).toBe(true);
    expect(performance.now() - started).toBeLessThan(1_000);
    admin.disconnect();
  });

  it("fails with TIMEOUT when Redis does not answer in time", async () => {
    const server = await privateRedis();
    const store = await connectRedisStore({ url: server.url, namespace: "timeout", commandTimeoutMs: 200 });
    stores.push(store);
    const admin = new Redis(server.url);
    await admin.call("client", "pause", "1000", "ALL");
    await expectCode(store.get(valueKey("k", stringCodec)), "TIMEOUT");
    await admin.quit();
    await sleep(1_000);
    expect(await store.get(valueKey("k", stringCodec))).toBeUndefined();
  });

  it("gives up connecting after connectTimeoutMs, or connects in the background when asked not to wait", async () => {
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const started = performance.now();
    await expectCode(connectRedisStore({ url, namespace: "absent", connectTimeoutMs: 300 }), "DISCONNECTED");
    expect(performance.now() - started).toBeLessThan(2_000);

    const store = await connectRedisStore({
      url,
      namespace: "later",
      waitUntilReady: false,
      maxReconnectDelayMs: 200,
    });
    stores.push(store);
    expect(store.ready).toBe(false);
    await expectCode(store.get(valueKey("k", stringCodec)), "DISCONNECTED");
    const server = new PrivateRedis(port);
    servers.push(server);
    await server.start();
    await until(() => store.ready, 10_000, "the store connects");
    expect(await store.get(valueKey("k", stringCodec))).toBeUndefined();
  });

  it("refuses bad options with INVALID_ARGUMENT", async () => {
    await expectCode(connectRedisStore({ url: redisUrl, namespace: "bad namespace" }), "INVALID_ARGUMENT");
    await expectCode(connectRedisStore({ url: "http://localhost", namespace: "x" }), "INVALID_ARGUMENT");
    await expectCode(
      connectRedisStore({ url: redisUrl, namespace: "x", commandTimeoutMs: 0 }),
      "INVALID_ARGUMENT",
    );
  });
});

describe("the Redis store agrees with the in-process store", () => {
  type Step =
    | { op: "indexAdd"; member: string; score: number }
    | { op: "indexRemove"; member: string }
    | { op: "indexTrim"; belowScore: number }
    | { op: "indexKeep"; keepHighest: number }
    | {
        op: "indexRange";
        min: number;
        max: number;
        order: "asc" | "desc";
        offset: number;
        limit: number | undefined;
      }
    | { op: "indexScore"; member: string }
    | { op: "setFieldsIfAbsent"; a: string | undefined; b: string | undefined }
    | { op: "setFields"; a: string | undefined; b: string | undefined }
    | { op: "getRecord" }
    | { op: "join"; id: string; data: string; exclusive: boolean }
    | { op: "renew"; id: string; data: string }
    | { op: "leave"; id: string; data: string | undefined }
    | { op: "members" }
    | { op: "setIfAbsent"; value: string }
    | { op: "delete" };

  const members = fc.constantFrom("a", "b", "ab", "B", "é", "\uFFFF", "\u{1F600}", "");
  const scores = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(0.5, -0.25, 1e-9, 2 ** 53));
  const bound = fc.oneof(scores, fc.constantFrom(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY));
  const text = fc.option(fc.constantFrom("x", "y", "zz"), { nil: undefined });
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ op: fc.constant("indexAdd" as const), member: members, score: scores }),
    fc.record({ op: fc.constant("indexRemove" as const), member: members }),
    fc.record({ op: fc.constant("indexTrim" as const), belowScore: bound }),
    fc.record({ op: fc.constant("indexKeep" as const), keepHighest: fc.nat(4) }),
    fc.record({
      op: fc.constant("indexRange" as const),
      min: bound,
      max: bound,
      order: fc.constantFrom("asc" as const, "desc" as const),
      offset: fc.nat(3),
      limit: fc.option(fc.nat(4), { nil: undefined }),
    }),
    fc.record({ op: fc.constant("indexScore" as const), member: members }),
    fc.record({ op: fc.constant("setFieldsIfAbsent" as const), a: text, b: text }),
    fc.record({ op: fc.constant("setFields" as const), a: text, b: text }),
    fc.record({ op: fc.constant("getRecord" as const) }),
    fc.record({
      op: fc.constant("join" as const),
      id: members,
      data: fc.constantFrom("p", "q"),
      exclusive: fc.boolean(),
    }),
    fc.record({ op: fc.constant("renew" as const), id: members, data: fc.constantFrom("p", "q") }),
    fc.record({
      op: fc.constant("leave" as const),
      id: members,
      data: fc.option(fc.constantFrom("p", "q"), { nil: undefined }),
    }),
    fc.record({ op: fc.constant("members" as const) }),
    fc.record({ op: fc.constant("setIfAbsent" as const), value: fc.constantFrom("1", "2") }),
    fc.record({ op: fc.constant("delete" as const) }),
  );

  async function apply(store: Store, run: string, s: Step): Promise<unknown> {
    const index = indexKey(`${run}/index`);
    const record = recordKey<{ a: string; b: string }>(`${run}/record`, { a: stringCodec, b: stringCodec });
    const membership = membershipKey(`${run}/members`, jsonCodec<string>());
    const value = valueKey(`${run}/value`, stringCodec);
    const ttlMs = 60_000;
    switch (s.op) {
      case "indexAdd":
        return store.indexAdd(index, s.member, s.score);
      case "indexRemove":
        return store.indexRemove(index, s.member);
      case "indexTrim":
        return store.indexTrim(index, { belowScore: s.belowScore });
      case "indexKeep":
        return store.indexTrim(index, { keepHighest: s.keepHighest });
      case "indexRange":
        return store.indexRange(index, s);
      case "indexScore":
        return store.indexScore(index, s.member);
      case "setFieldsIfAbsent":
        return store.setFieldsIfAbsent(record, { a: s.a, b: s.b });
      case "setFields":
        return store.setFields(record, { a: s.a, b: s.b });
      case "getRecord":
        return store.getRecord(record);
      case "join":
        return store.join(membership, s.id, s.data, { ttlMs, exclusive: s.exclusive });
      case "renew":
        return store.renew(membership, s.id, s.data, { ttlMs });
      case "leave":
        return store.leave(membership, s.id, s.data);
      case "members":
        return (await store.members(membership)).map((member) => [member.id, member.data]);
      case "setIfAbsent":
        return store.setIfAbsent(value, s.value);
      case "delete":
        return Promise.all([
          store.delete(index),
          store.delete(record),
          store.delete(membership),
          store.delete(value),
        ]);
    }
  }

  it("on random sequences of index, record, membership and value operations", async () => {
    const namespace = `simd23-test/store/${randomUUID()}`;
    const redis = await connectRedisStore({ url: redisUrl, namespace });
    const memory = createMemoryStore({ namespace });
    try {
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
          const run = `run-${runs++}`;
          for (const s of steps) {
            const [fromRedis, fromMemory] = await Promise.all([apply(redis, run, s), apply(memory, run, s)]);
            expect(fromRedis, JSON.stringify(s)).toEqual(fromMemory);
          }
        }),
        { numRuns: 60 },
      );
    } finally {
      await redis.clear();
      await redis.close();
    }
  });
});
