import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { BusError } from "./errors.js";
import { connectNatsBus } from "./nats.js";
import type { Bus, BusStatus } from "./types.js";

// A private nats-server, killed and restarted under a connected bus.

const NATS_SERVER = process.env.SIMD23_NATS_SERVER_BIN ?? "/usr/sbin/nats-server";
const storeDir = mkdtempSync(join(tmpdir(), "simd23-bus-loss-"));
let server: ChildProcess | undefined;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

async function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.connect(port, "127.0.0.1");
  });
}

async function startServer(port: number): Promise<ChildProcess> {
  const child = spawn(NATS_SERVER, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", storeDir], {
    stdio: "ignore",
  });
  const deadline = Date.now() + 10_000;
  while (!(await accepting(port))) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`nats-server did not start on ${port}`);
    await sleep(50);
  }
  return child;
}

async function killServer(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGKILL");
  await exited;
}

async function waitFor(what: string, condition: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

afterAll(async () => {
  if (server !== undefined && server.exitCode === null) await killServer(server);
  rmSync(storeDir, { recursive: true, force: true });
});

describe("NATS adapter across a server crash and restart", () => {
  it("reports the outage, fails publishes with a typed error, and loses nothing acknowledged", async () => {
    const port = await freePort();
    server = await startServer(port);
    const bus: Bus = await connectNatsBus({
      servers: `nats://127.0.0.1:${port}`,
      namespace: "loss",
      name: "loss-test",
    });
    const statuses: BusStatus[] = [];
    bus.onStatus((status) => statuses.push(status));

    const consumed = new Set<string>();
    const consumer = await bus.consume(
      { stream: "LEDGER", durable: "executor", start: "all", ackWaitMs: 2_000 },
      (message) => {
        consumed.add(new TextDecoder().decode(message.data));
        message.ack();
      },
    );

    // A live replay across the restart: its ordered consumer dies with the server, and the replay
    // goes on after the last message it delivered — every message once, in order.
    const replayed: { seq: number; body: string }[] = [];
    const live = bus.replay({ stream: "LEDGER", start: "all" });
    const reading = (async () => {
      for await (const message of live)
        replayed.push({ seq: message.seq, body: new TextDecoder().decode(message.data) });
    })();

    const acknowledged = new Set<string>();
    const failures: BusError[] = [];
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing; i++) {
        const body = `entry-${i}`;
        try {
          await bus.publish("ledger.entries", new TextEncoder().encode(body), { msgId: body });
          acknowledged.add(body);
        } catch (error) {
          if (!(error instanceof BusError)) throw error;
          failures.push(error);
          await sleep(25);
        }
        if (i % 20 === 0) await sleep(1);
      }
    })();

    await waitFor("messages flowing", () => consumed.size >= 200);
    await killServer(server);
    await waitFor("the disconnect", () => !bus.ready);
    expect(statuses).toContain("disconnected");
    await expect(bus.publish("ledger.entries", new Uint8Array(1))).rejects.toMatchObject({
      name: "BusError",
      code: "DISCONNECTED",
    });
    await waitFor("publishes failing", () => failures.length >= 5);
    expect(failures.every((failure) => failure.code === "DISCONNECTED" || failure.code === "TIMEOUT")).toBe(
      true,
    );

    const acknowledgedBeforeRestart = acknowledged.size;
    server = await startServer(port);
    await waitFor("the bus to be ready again", () => bus.ready);
    expect(bus.status).toBe("connected");
    expect(statuses).toEqual(["disconnected", "reconnecting", "connected"]);
    await waitFor("new publishes acknowledged", () => acknowledged.size >= acknowledgedBeforeRestart + 200);
    publishing = false;
    await publisher;

    await waitFor("the consumer to catch up", () => [...acknowledged].every((body) => consumed.has(body)));
    const stored = new Set<string>();
    for await (const message of bus.replay({ stream: "LEDGER", stopAtEnd: true })) {
      stored.add(new TextDecoder().decode(message.data));
    }
    expect([...acknowledged].filter((body) => !stored.has(body))).toEqual([]);
    await waitFor("the live replay to deliver everything stored", () =>
      [...stored].every((body) => replayed.some((r) => r.body === body)),
    );
    live.stop();
    await reading;
    expect(replayed.map((r) => r.seq)).toEqual(replayed.map((_, i) => i + 1));
    await consumer.stop();
    await bus.close();
    expect(bus.status).toBe("closed");
  }, 90_000);
});
