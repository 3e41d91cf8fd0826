import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import {
  type Client,
  credentials,
  Metadata,
  makeGenericClientConstructor,
  type ServiceDefinition,
  status,
} from "@grpc/grpc-js";
import { proposer } from "@simd23/proto";
import { service as healthDefinition } from "grpc-health-check";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";

// These tests run the fixture as its own process, as Kubernetes runs a role: from the built
// output, so the package is built first (incrementally: a no-op when dist is current).
const packageRoot = fileURLToPath(new URL("..", import.meta.url));
const repositoryRoot = join(packageRoot, "..", "..");
const fixture = join(packageRoot, "dist", "private", "fixtures", "lifecycle-service.js");

const directory = mkdtempSync(join(tmpdir(), "simd23-lifecycle-"));
const genesis = join(directory, "genesis.json");
writeFileSync(genesis, "{}");
afterAll(() => rmSync(directory, { recursive: true, force: true }));

beforeAll(async () => {
  const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
  await promisify(execFile)(process.execPath, [tsc, "-b", "packages/service-kit"], { cwd: repositoryRoot });
}, 180_000);

interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

interface RunningFixture {
  readonly child: ChildProcess;
  readonly logs: LogLine[];
  readonly stderr: () => string;
  readonly exited: Promise<{ code: number | null; at: number }>;
  waitForLog(msg: string): Promise<LogLine>;
}

const children: ChildProcess[] = [];
const clients: Client[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill("SIGKILL");
});

function runFixture(env: Record<string, string>): RunningFixture {
  const child = spawn(process.execPath, [fixture], {
    env: {
      PATH: process.env.PATH,
      SIMD23_GENESIS: genesis,
      SIMD23_CLUSTER_SEED: "22".repeat(32),
      SIMD23_BIND_ADDRESS: "127.0.0.1",
      SIMD23_GRPC_PORT: "0",
      SIMD23_METRICS_PORT: "0",
      SIMD23_REPLICA_ORDINAL: "simd23-proposer-1",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const logs: LogLine[] = [];
  const waiters: { msg: string; resolve: (line: LogLine) => void }[] = [];
  let pending = "";
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout?.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const text of lines) {
      if (text.trim() === "") continue;
      const line = JSON.parse(text) as LogLine;
      logs.push(line);
      for (const waiter of waiters.filter((candidate) => candidate.msg === line.msg)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  });
  const exited = once(child, "exit").then(([code]) => ({
    code: code as number | null,
    at: performance.now(),
  }));
  return {
    child,
    logs,
    stderr: () => stderr,
    exited,
    waitForLog: (msg) => {
      const seen = logs.find((line) => line.msg === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ msg, resolve });
        exited.then(() => reject(new Error(`exited before logging "${msg}": ${stderr}`)));
      });
    },
  };
}

const HealthClient = makeGenericClientConstructor(healthDefinition as unknown as ServiceDefinition, "Health");

function checkReadiness(client: Client): Promise<string> {
  const method = healthDefinition.Check!;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      { service: "readiness" },
      (error, response) => (error ? reject(error) : resolve((response as { status: string }).status)),
    ),
  );
}

async function untilServing(client: Client): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if ((await checkReadiness(client)) === "SERVING") return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error("the fixture never became ready");
}

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";

/** Calls SubmitTransaction as a client already inside trace TRACE_ID. */
function submitInTrace(port: number): Promise<proposer.SubmitTransactionResponse> {
  const client = new proposer.ProposerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  clients.push(client);
  const metadata = new Metadata();
  metadata.set("traceparent", `00-${TRACE_ID}-b7ad6b7169203331-01`);
  return new Promise((resolve, reject) =>
    client.submitTransaction(
      proposer.SubmitTransactionRequest.fromPartial({
        transaction: { message: new Uint8Array([1]), signatures: [new Uint8Array(64).fill(9)] },
      }),
      metadata,
      (error, response) => (error ? reject(error) : resolve(response)),
    ),
  );
}

describe("a service process", () => {
  it("shuts down on SIGTERM in the documented order, finishing the call in flight, and exits 0", async () => {
    const service = runFixture({});
    const started = await service.waitForLog("service started");
    const port = started.grpcPort as number;
    const health = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
    clients.push(health);
    await untilServing(health);

    const call = submitInTrace(port);
    const callStarted = await service.waitForLog("call started");
    // The gRPC instrumentation continued the caller's trace, and the log line carries it.
    expect(callStarted.trace_id).toBe(TRACE_ID);
    expect(callStarted).toMatchObject({ service: "simd23-proposer", role: "proposer", replica: 1 });

    service.child.kill("SIGTERM");
    await service.waitForLog("hook stop_consuming");
    expect(await checkReadiness(health)).toBe("NOT_SERVING");

    expect([...(await call).signature]).toEqual(Array(64).fill(9));
    const { code } = await service.exited;
    expect(code).toBe(0);

    const sequence = service.logs
      .map((line) => (line.msg === "shutdown step done" ? `done ${line.step}` : line.msg))
      .filter((msg) =>
        [
          "shutting down",
          "done not_serving",
          "hook stop_consuming",
          "done stop_consuming",
          "hook drain started",
          "hook drain finished",
          "done drain",
          "call finished",
          "done stop_grpc",
          "dependency closed",
          "done close_dependencies",
          "done stop_metrics",
          "shutdown complete",
        ].includes(msg),
      );
    // The call (600 ms) outlasts stop_consuming and most of the drain (500 ms); gRPC stops only after it.
    const callFinished = sequence.indexOf("call finished");
    expect(callFinished).toBeGreaterThan(sequence.indexOf("hook drain started"));
    expect(callFinished).toBeLessThan(sequence.indexOf("done stop_grpc"));
    expect(sequence.filter((msg) => msg !== "call finished")).toEqual([
      "shutting down",
      "done not_serving",
      "hook stop_consuming",
      "done stop_consuming",
      "hook drain started",
      "hook drain finished",
      "done drain",
      "done stop_grpc",
      "dependency closed",
      "done close_dependencies",
      "done stop_metrics",
      "shutdown complete",
    ]);
    expect(service.logs.find((line) => line.msg === "shutting down")).toMatchObject({ reason: "SIGTERM" });
  });

  it("exits non-zero within the deadline when a hook hangs, naming what was pending", async () => {
    const deadlineMs = 1_000;
    const service = runFixture({ FIXTURE_HANG: "drain", SIMD23_SHUTDOWN_DEADLINE_MS: String(deadlineMs) });
    await service.waitForLog("role is ready");
    const signalledAt = performance.now();
    service.child.kill("SIGTERM");
    const { code, at } = await service.exited;
    expect(code).toBe(1);
    const elapsed = at - signalledAt;
    expect(elapsed).toBeGreaterThanOrEqual(deadlineMs - 50);
    // The deadline timer ends the process; the margin only absorbs process exit on a busy machine.
    expect(elapsed).toBeLessThan(deadlineMs + 1_500);
    const report = service.logs.find((line) => line.msg === "shutdown deadline passed with work pending");
    expect(report).toMatchObject({
      level: "error",
      deadlineMs,
      pending: ["drain", "stop_grpc", "close_dependencies", "stop_metrics"],
    });
  });

  it("logs an uncaught error and exits non-zero", async () => {
    const service = runFixture({ FIXTURE_CRASH: "1" });
    const { code } = await service.exited;
    expect(code).toBe(1);
    expect(service.logs).toContainEqual(
      expect.objectContaining({
        level: "fatal",
        msg: "uncaught exception: exiting",
        err: expect.objectContaining({ message: "fixture crashed on purpose" }),
      }),
    );
  });

  it("refuses to start with a bad configuration, naming every bad variable", async () => {
    const service = runFixture({
      SIMD23_CLUSTER_SEED: "",
      SIMD23_GRPC_PORT: "grpc",
      SIMD23_FIXTURE_CALL_MS: "-1",
    });
    const { code } = await service.exited;
    expect(code).toBe(1);
    expect(service.logs).toEqual([]);
    expect(service.stderr()).toContain("invalid configuration (3 problems)");
    expect(service.stderr()).toContain(
      "SIMD23_CLUSTER_SEED: expected 64 hex characters (32 bytes), found nothing",
    );
    expect(service.stderr()).toContain('SIMD23_GRPC_PORT: expected a TCP port from 0 to 65535, found "grpc"');
    expect(service.stderr()).toContain(
      'SIMD23_FIXTURE_CALL_MS: expected an integer of at least 0, found "-1"',
    );
  });

  it("keeps gRPC errors typed across processes", async () => {
    const service = runFixture({});
    const started = await service.waitForLog("service started");
    const client = new proposer.ProposerServiceClient(
      `127.0.0.1:${started.grpcPort as number}`,
      credentials.createInsecure(),
    );
    clients.push(client);
    const error = await new Promise<{ code: number; metadata: Metadata }>((resolve) =>
      client.getProposerStatus(proposer.GetProposerStatusRequest.fromPartial({}), (callError) =>
        resolve(callError as unknown as { code: number; metadata: Metadata }),
      ),
    );
    expect(error.code).toBe(status.UNIMPLEMENTED);
    expect(error.metadata.get("simd23-reason")).toEqual(["NOT_IN_FIXTURE"]);
    service.child.kill("SIGTERM");
    expect((await service.exited).code).toBe(0);
  });

  it("exports spans over OTLP/HTTP when an endpoint is set, named after the role, flushed at shutdown", async () => {
    const bodies: string[] = [];
    const collector = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => {
        body += chunk.toString();
      });
      request.on("end", () => {
        if (request.url === "/v1/traces") bodies.push(body);
        response.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    try {
      const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
      const service = runFixture({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, SIMD23_FIXTURE_CALL_MS: "0" });
      const started = await service.waitForLog("service started");
      await submitInTrace(started.grpcPort as number);
      service.child.kill("SIGTERM");
      expect((await service.exited).code).toBe(0);
      const exported = bodies.join("\n");
      expect(exported).toContain(TRACE_ID);
      expect(exported).toContain("simd23-proposer");
      expect(exported).toContain("SubmitTransaction");
    } finally {
      collector.close();
    }
  });

  it("creates no spans when OTEL_SDK_DISABLED is set", async () => {
    const service = runFixture({ OTEL_SDK_DISABLED: "true", SIMD23_FIXTURE_CALL_MS: "0" });
    const started = await service.waitForLog("service started");
    await submitInTrace(started.grpcPort as number);
    expect(await service.waitForLog("call started")).not.toHaveProperty("trace_id");
    service.child.kill("SIGTERM");
    expect((await service.exited).code).toBe(0);
  });
});
