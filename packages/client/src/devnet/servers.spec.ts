import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "./ports.js";
import {
  chooseBackend,
  DEFAULT_NATS_URL,
  DEFAULT_REDIS_URL,
  findExecutable,
  LocalServer,
  probeNats,
  probeRedis,
  serverAddress,
} from "./servers.js";

// The real NATS (JetStream) and Redis on their default ports, and the nats-server and
// redis-server binaries on PATH, as the machine that runs the tests has them.

const directory = mkdtempSync(join(tmpdir(), "simd23-servers-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const local = (port: number) => ({ host: "127.0.0.1", port });

describe("finding NATS and Redis", () => {
  it("reads host and port from a URL, with the default port when it has none", () => {
    expect(serverAddress("nats://127.0.0.1:4222", 1)).toEqual({ host: "127.0.0.1", port: 4222 });
    expect(serverAddress("redis://cache.local", 6379)).toEqual({ host: "cache.local", port: 6379 });
    expect(serverAddress("nats://[::1]:5000", 1)).toEqual({ host: "::1", port: 5000 });
    expect(() => serverAddress("127.0.0.1:4222", 1)).toThrow(TypeError);
    expect(() => serverAddress("not a url", 1)).toThrow(/not a URL/);
  });

  it("knows a NATS server with JetStream and a Redis server that answers PING", async () => {
    expect(await probeNats(serverAddress(DEFAULT_NATS_URL, 4222))).toEqual({
      answers: true,
      jetstream: true,
    });
    expect(await probeRedis(serverAddress(DEFAULT_REDIS_URL, 6379))).toBe(true);
  });

  it("tells nothing listening, and a server speaking another protocol, from NATS and Redis", async () => {
    const port = await freePort();
    expect(await probeNats(local(port))).toEqual({ answers: false, jetstream: false });
    expect(await probeRedis(local(port))).toBe(false);
    // Redis is not NATS, and NATS is not Redis.
    expect((await probeNats(serverAddress(DEFAULT_REDIS_URL, 6379), 300)).jetstream).toBe(false);
    expect(await probeRedis(serverAddress(DEFAULT_NATS_URL, 4222), 300)).toBe(false);
    // A server that accepts and says nothing times out as "not there".
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const silentPort = (silent.address() as { port: number }).port;
    expect(await probeNats(local(silentPort), 200)).toEqual({ answers: false, jetstream: false });
    silent.close();
  });

  it("finds executables on PATH only where they are", () => {
    const nats = findExecutable("nats-server");
    expect(nats).toMatch(/nats-server$/);
    expect(findExecutable("nats-server", dirname(nats!))).toBe(nats);
    expect(findExecutable("nats-server", directory)).toBeUndefined();
    expect(findExecutable("nats-server", "")).toBeUndefined();
  });
});

describe("servers the devnet starts", () => {
  it("starts nats-server with JetStream and redis-server on free ports, and stops them", async () => {
    const nats = await LocalServer.start(
      "nats-server",
      findExecutable("nats-server")!,
      join(directory, "nats"),
    );
    const redis = await LocalServer.start(
      "redis-server",
      findExecutable("redis-server")!,
      join(directory, "redis"),
    );
    try {
      expect(nats.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      expect(await probeNats(serverAddress(nats.url, 4222))).toEqual({ answers: true, jetstream: true });
      expect(await probeRedis(serverAddress(redis.url, 6379))).toBe(true);
    } finally {
      const codes = await Promise.all([nats.stop(), redis.stop()]);
      expect(codes).toEqual([0, 0]);
    }
    expect(nats.running).toBe(false);
    expect(await probeRedis(serverAddress(redis.url, 6379))).toBe(false);
  });

  it("reports a server that cannot start with its log", async () => {
    await expect(LocalServer.start("nats-server", "/bin/false", join(directory, "false"))).rejects.toThrow(
      /nats-server exited at start \(code 1\); see .*nats-server\.log/,
    );
    await expect(
      LocalServer.start("redis-server", join(directory, "absent"), join(directory, "x")),
    ).rejects.toThrow(/cannot start .*absent: spawn .* ENOENT/);
  });
});

describe("choosing where the roles run", () => {
  it("uses NATS and Redis when they answer, and says so", async () => {
    const backend = await chooseBackend({
      embedded: false,
      natsUrl: DEFAULT_NATS_URL,
      redisUrl: DEFAULT_REDIS_URL,
      serverDir: join(directory, "unused"),
    });
    expect(backend).toEqual({
      kind: "servers",
      natsUrl: DEFAULT_NATS_URL,
      redisUrl: DEFAULT_REDIS_URL,
      started: [],
      reason: `NATS with JetStream answers at ${DEFAULT_NATS_URL}; Redis answers at ${DEFAULT_REDIS_URL}`,
    });
  });

  it("starts from PATH what does not answer, and stops nothing it did not start", async () => {
    const natsUrl = `nats://127.0.0.1:${await freePort()}`;
    const backend = await chooseBackend({
      embedded: false,
      natsUrl,
      redisUrl: DEFAULT_REDIS_URL,
      serverDir: join(directory, "started"),
    });
    if (backend.kind !== "servers") throw new Error(backend.reason);
    try {
      expect(backend.started.map((s) => s.name)).toEqual(["nats-server"]);
      expect(backend.natsUrl).not.toBe(natsUrl);
      expect(backend.redisUrl).toBe(DEFAULT_REDIS_URL);
      expect(backend.reason).toMatch(new RegExp(`no NATS answers at ${natsUrl}: started .*nats-server -js`));
      expect((await probeNats(serverAddress(backend.natsUrl, 4222))).jetstream).toBe(true);
    } finally {
      for (const server of backend.started) await server.stop();
    }
  });

  it("runs embedded when a server is neither running nor installed, or when asked", async () => {
    const redisUrl = `redis://127.0.0.1:${await freePort()}`;
    const missing = await chooseBackend({
      embedded: false,
      natsUrl: DEFAULT_NATS_URL,
      redisUrl,
      serverDir: join(directory, "none"),
      path: directory,
    });
    expect(missing).toEqual({
      kind: "embedded",
      reason: `no Redis answers at ${redisUrl} and redis-server is not on PATH: every role runs in this process on the in-process bus and store`,
    });
    const asked = await chooseBackend({
      embedded: true,
      natsUrl: DEFAULT_NATS_URL,
      redisUrl: DEFAULT_REDIS_URL,
      serverDir: join(directory, "none"),
    });
    expect(asked.kind).toBe("embedded");
    expect(asked.reason).toMatch(/^--embedded/);
  });
});
