import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Client,
  credentials,
  makeGenericClientConstructor,
  type ServiceDefinition,
  type ServiceError,
  status,
} from "@grpc/grpc-js";
import { proposer, tx, voteaggregator } from "@simd23/proto";
import { service as healthDefinition } from "grpc-health-check";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "./config.js";
import { callUnary, grpcService, RpcRejection, readRejection, serverStream, unary } from "./grpc.js";
import { type DependencyStatus, HEALTH_LIVENESS, HEALTH_READINESS } from "./health.js";
import { type ServiceHandle, type ServiceParts, startService } from "./service.js";

const directory = mkdtempSync(join(tmpdir(), "simd23-service-"));
const genesis = join(directory, "genesis.json");
writeFileSync(genesis, "{}");
afterAll(() => rmSync(directory, { recursive: true, force: true }));

/** Stands in for the status a bus or store connection reports (not a NATS or Redis mock). */
class StatusSource {
  ready = false;
  closed = false;
  private readonly listeners = new Set<(status: DependencyStatus) => void>();
  get listening(): number {
    return this.listeners.size;
  }
  report(next: DependencyStatus): void {
    this.ready = next === "connected";
    for (const listener of this.listeners) listener(next);
  }
  protected subscribe(listener: (status: DependencyStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  close(): void {
    this.closed = true;
    this.report("closed");
  }
}

/** Follows status the way `@simd23/bus` does. */
class BusStatusSource extends StatusSource {
  onStatus(listener: (status: DependencyStatus) => void): () => void {
    return this.subscribe(listener);
  }
}

/** Follows status the way `@simd23/store` does. */
class StoreStatusSource extends StatusSource {
  onStatusChange(listener: (status: DependencyStatus) => void): () => void {
    return this.subscribe(listener);
  }
}

interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

const running: ServiceHandle[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await Promise.all(running.splice(0).map((service) => service.shutdown("test over")));
});

async function start(
  build: (service: ServiceHandle) => ServiceParts | Promise<ServiceParts>,
  deadlineMs = 5_000,
) {
  const logs: LogLine[] = [];
  const config = loadConfig({
    env: {
      SIMD23_GENESIS: genesis,
      SIMD23_CLUSTER_SEED: "11".repeat(32),
      SIMD23_BIND_ADDRESS: "127.0.0.1",
      SIMD23_GRPC_PORT: "0",
      SIMD23_METRICS_PORT: "0",
      SIMD23_LOG_LEVEL: "debug",
      SIMD23_SHUTDOWN_DEADLINE_MS: String(deadlineMs),
      SIMD23_REPLICA_ORDINAL: "simd23-proposer-2",
    },
  });
  const service = await startService({
    role: "proposer",
    config,
    build,
    manageProcess: false,
    logDestination: { write: (line: string) => void logs.push(JSON.parse(line) as LogLine) },
  });
  running.push(service);
  return { service, logs };
}

const HealthClient = makeGenericClientConstructor(healthDefinition as unknown as ServiceDefinition, "Health");

function healthClient(port: number): Client {
  const client = new HealthClient(`127.0.0.1:${port}`, credentials.createInsecure());
  clients.push(client);
  return client;
}

function check(client: Client, name: string): Promise<string> {
  const method = healthDefinition.Check!;
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      method.path,
      method.requestSerialize,
      method.responseDeserialize,
      { service: name },
      (error, response) => (error ? reject(error) : resolve((response as { status: string }).status)),
    ),
  );
}

function proposerClient(port: number): proposer.ProposerServiceClient {
  const client = new proposer.ProposerServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  clients.push(client);
  return client;
}

function submit(
  client: proposer.ProposerServiceClient,
  fill = 1,
): Promise<proposer.SubmitTransactionResponse> {
  const request = proposer.SubmitTransactionRequest.fromPartial({
    transaction: { message: new Uint8Array([fill]), signatures: [new Uint8Array(64).fill(fill)] },
  });
  return callUnary(client.submitTransaction.bind(client), request, { timeoutMs: 5_000 });
}

function failure(promise: Promise<unknown>): Promise<ServiceError> {
  return promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (error: ServiceError) => error,
  );
}

async function scrape(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** A ProposerService whose SubmitTransaction does what the test says. */
function proposerService(
  submitTransaction: (
    request: proposer.SubmitTransactionRequest,
  ) => Promise<proposer.SubmitTransactionResponse>,
) {
  const unused = unary<unknown, never>(() => {
    throw new RpcRejection(status.UNIMPLEMENTED, "NOT_IN_THIS_TEST", "not used by this test");
  });
  return grpcService(proposer.ProposerServiceService, {
    submitTransaction: unary(submitTransaction),
    submitBundle: unused,
    getUserBlock: unused,
    getLatestBlockhash: unused,
    getProposerStatus: unused,
  });
}

const accepted = (request: proposer.SubmitTransactionRequest) =>
  Promise.resolve(
    proposer.SubmitTransactionResponse.fromPartial({
      signature: request.transaction?.signatures[0] ?? new Uint8Array(),
    }),
  );

describe("health over gRPC", () => {
  it("is NOT_SERVING until every dependency and the role are ready, and follows dependencies down and up", async () => {
    const nats = new BusStatusSource();
    const redis = new StoreStatusSource();
    const { service, logs } = await start(() => ({
      services: [proposerService(accepted)],
      dependencies: { nats, redis },
    }));
    const client = healthClient(service.grpcPort);
    const roleService = "simd23.proposer.v1.ProposerService";
    const readiness = async () => [
      await check(client, HEALTH_READINESS),
      await check(client, ""),
      await check(client, roleService),
    ];

    expect(await readiness()).toEqual(["NOT_SERVING", "NOT_SERVING", "NOT_SERVING"]);
    expect(await check(client, HEALTH_LIVENESS)).toBe("SERVING");
    expect(service.health.notServingReasons).toEqual(["starting", "dependency_down"]);

    nats.report("connected");
    redis.report("connected");
    expect(await check(client, HEALTH_READINESS)).toBe("NOT_SERVING");
    service.health.markReady();
    expect(await readiness()).toEqual(["SERVING", "SERVING", "SERVING"]);
    expect(service.health.serving).toBe(true);

    nats.report("reconnecting");
    expect(await readiness()).toEqual(["NOT_SERVING", "NOT_SERVING", "NOT_SERVING"]);
    expect(await check(client, HEALTH_LIVENESS)).toBe("SERVING");
    expect(service.health.notServingReasons).toEqual(["dependency_down"]);
    let metrics = await scrape(service.metricsPort);
    expect(metrics).toContain('simd23_proposer_dependency_up{dependency="nats"} 0');
    expect(metrics).toContain('simd23_proposer_dependency_up{dependency="redis"} 1');
    expect(metrics).toContain("simd23_proposer_up 0");

    nats.report("connected");
    expect(await readiness()).toEqual(["SERVING", "SERVING", "SERVING"]);
    metrics = await scrape(service.metricsPort);
    expect(metrics).toContain('simd23_proposer_dependency_up{dependency="nats"} 1');
    expect(metrics).toContain("simd23_proposer_up 1");

    expect(logs).toContainEqual(
      expect.objectContaining({
        msg: "dependency status changed",
        dependency: "nats",
        status: "reconnecting",
      }),
    );
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: "readiness NOT_SERVING", dependenciesDown: ["nats"], replica: 2 }),
    );
    await expect(check(client, "no.such.Service")).rejects.toMatchObject({ code: status.NOT_FOUND });
  });

  it("stays NOT_SERVING when the role is ready during build but a dependency is not", async () => {
    const nats = new BusStatusSource();
    const { service, logs } = await start((built) => {
      built.health.markReady();
      return { dependencies: { nats } };
    });
    const client = healthClient(service.grpcPort);
    expect(await check(client, HEALTH_READINESS)).toBe("NOT_SERVING");
    expect(logs.some((line) => line.msg === "readiness SERVING")).toBe(false);
    nats.report("connected");
    expect(await check(client, HEALTH_READINESS)).toBe("SERVING");
  });

  it("lets the role hold NOT_SERVING for its own reason, logged and in a metric", async () => {
    const { service, logs } = await start((built) => {
      built.health.markReady();
      return {};
    });
    const client = healthClient(service.grpcPort);
    expect(await check(client, HEALTH_READINESS)).toBe("SERVING");

    service.health.halt("more than 1/3 of stake committed a different BankHash for slot 812");
    expect(await check(client, HEALTH_READINESS)).toBe("NOT_SERVING");
    expect(await check(client, HEALTH_LIVENESS)).toBe("SERVING");
    expect(service.health.notServingReasons).toEqual(["halted"]);
    service.health.setNotServing("catching_up", "replaying the ledger");
    let metrics = await scrape(service.metricsPort);
    expect(metrics).toContain("simd23_proposer_halted 1");
    expect(metrics).toContain('simd23_proposer_not_serving{reason="halted"} 1');
    expect(metrics).toContain('simd23_proposer_not_serving{reason="catching_up"} 1');
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: "warn",
        msg: "role set NOT_SERVING",
        reason: "halted",
        detail: "more than 1/3 of stake committed a different BankHash for slot 812",
      }),
    );

    service.health.clearNotServing("catching_up");
    expect(await check(client, HEALTH_READINESS)).toBe("NOT_SERVING");
    service.health.clearNotServing("halted");
    expect(await check(client, HEALTH_READINESS)).toBe("SERVING");
    metrics = await scrape(service.metricsPort);
    expect(metrics).toContain("simd23_proposer_halted 0");
    expect(metrics).toContain('simd23_proposer_not_serving{reason="halted"} 0');

    expect(() => service.health.setNotServing("Halted!")).toThrow(TypeError);
    expect(() => service.health.setNotServing("starting")).toThrow(TypeError);
  });
});

describe("/metrics", () => {
  it("serves the default process metrics and every standard metric over HTTP", async () => {
    const { service } = await start((built) => {
      built.metrics.slot.set(77);
      return { dependencies: { nats: new BusStatusSource() }, buildInfo: { mode: "async" } };
    });
    const metrics = await scrape(service.metricsPort);
    for (const expected of [
      "process_cpu_user_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_seconds",
      "simd23_proposer_up 0",
      "simd23_proposer_halted 0",
      'simd23_proposer_dependency_up{dependency="nats"} 0',
      'simd23_proposer_not_serving{reason="starting"} 1',
      'simd23_proposer_not_serving{reason="shutting_down"} 0',
      'simd23_proposer_not_serving{reason="halted"} 0',
      "# TYPE simd23_proposer_messages_refused_total counter",
      'simd23_proposer_build_info{version="0.1.0",mode="async"} 1',
      "simd23_proposer_slot 77",
      "# TYPE simd23_proposer_grpc_requests_total counter",
    ]) {
      expect(metrics).toContain(expected);
    }
    const notFound = await fetch(`http://127.0.0.1:${service.metricsPort}/`);
    expect(notFound.status).toBe(404);
  });
});

describe("gRPC errors", () => {
  it("delivers a typed refusal's code, simd23-reason and message to the client", async () => {
    const { service } = await start(() => ({
      services: [
        proposerService(async (request) => {
          if (request.transaction?.message[0] === 7) {
            throw new RpcRejection(
              status.RESOURCE_EXHAUSTED,
              tx.RejectReason.REJECT_REASON_QUEUE_FULL,
              "the intake queue holds 10000 transactions",
            );
          }
          return accepted(request);
        }),
      ],
    }));
    const client = proposerClient(service.grpcPort);
    expect([...(await submit(client, 1)).signature]).toEqual(Array(64).fill(1));

    const error = await failure(submit(client, 7));
    expect(error.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error.metadata.get("simd23-reason")).toEqual(["QUEUE_FULL"]);
    expect(readRejection(error)).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      reason: "QUEUE_FULL",
      rejectReason: tx.RejectReason.REJECT_REASON_QUEUE_FULL,
      message: "the intake queue holds 10000 transactions",
    });
    const metrics = await scrape(service.metricsPort);
    expect(metrics).toContain(
      'simd23_proposer_grpc_requests_total{method="/simd23.proposer.v1.ProposerService/SubmitTransaction",code="RESOURCE_EXHAUSTED"} 1',
    );
    // A method never called has its series from the start, at 0.
    expect(metrics).toContain(
      'simd23_proposer_grpc_requests_total{method="/simd23.proposer.v1.ProposerService/GetUserBlock",code="OK"} 0',
    );
    expect(metrics).toContain(
      'simd23_proposer_grpc_request_duration_seconds_count{method="/simd23.proposer.v1.ProposerService/GetUserBlock"} 0',
    );
  });

  it("answers a request that does not decode with INVALID_ARGUMENT and reason MALFORMED, and keeps serving", async () => {
    let handled = 0;
    const { service } = await start(() => ({
      services: [
        proposerService((request) => {
          handled++;
          return accepted(request);
        }),
      ],
    }));
    const client = proposerClient(service.grpcPort);
    // Field 1 (transaction) claims 5 bytes, but only 1 follows.
    const truncated = Buffer.from([0x0a, 0x05, 0x01]);
    const error = await failure(
      new Promise((resolve, reject) =>
        client.makeUnaryRequest(
          "/simd23.proposer.v1.ProposerService/SubmitTransaction",
          (bytes: Buffer) => bytes,
          (bytes: Buffer) => bytes,
          truncated,
          (callError, response) => (callError ? reject(callError) : resolve(response)),
        ),
      ),
    );
    expect(error.code).toBe(status.INVALID_ARGUMENT);
    expect(readRejection(error)).toMatchObject({
      reason: "MALFORMED",
      rejectReason: tx.RejectReason.REJECT_REASON_MALFORMED,
    });
    expect(error.details).toContain("does not decode");
    expect(handled).toBe(0);
    expect([...(await submit(client, 2)).signature]).toEqual(Array(64).fill(2));
    expect(handled).toBe(1);
  });

  it("answers INTERNAL and logs the stack when a handler fails by mistake", async () => {
    const { service, logs } = await start(() => ({
      services: [
        proposerService(() => {
          throw new Error("index out of range");
        }),
      ],
    }));
    const error = await failure(submit(proposerClient(service.grpcPort)));
    expect(error.code).toBe(status.INTERNAL);
    expect(readRejection(error)).toMatchObject({ reason: undefined, rejectReason: undefined });
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: "error",
        msg: "gRPC handler failed",
        method: "/simd23.proposer.v1.ProposerService/SubmitTransaction",
        err: expect.objectContaining({ message: "index out of range", stack: expect.any(String) }),
      }),
    );
  });

  it("ends a server stream with a typed refusal after what it wrote", async () => {
    const { service } = await start(() => ({
      services: [
        grpcService(voteaggregator.VoteAggregatorServiceService, {
          getSignatureStatuses: unary(() => voteaggregator.GetSignatureStatusesResponse.fromPartial({})),
          getClusterStatus: unary(() => voteaggregator.GetClusterStatusResponse.fromPartial({})),
          subscribeSignatures: serverStream(async (_request, call) => {
            call.write(
              voteaggregator.SubscribeSignaturesResponse.fromPartial({ signature: new Uint8Array([1]) }),
            );
            throw new RpcRejection(status.FAILED_PRECONDITION, "HALTED", "the cluster halted");
          }),
        }),
      ],
    }));
    const client = new voteaggregator.VoteAggregatorServiceClient(
      `127.0.0.1:${service.grpcPort}`,
      credentials.createInsecure(),
    );
    clients.push(client);
    const received: number[][] = [];
    const error = await new Promise<ServiceError>((resolve) => {
      const stream = client.subscribeSignatures(voteaggregator.SubscribeSignaturesRequest.fromPartial({}));
      stream.on("data", (message: voteaggregator.SubscribeSignaturesResponse) =>
        received.push([...message.signature]),
      );
      stream.on("error", resolve);
    });
    expect(received).toEqual([[1]]);
    expect(readRejection(error)).toEqual({
      code: status.FAILED_PRECONDITION,
      reason: "HALTED",
      rejectReason: tx.RejectReason.REJECT_REASON_HALTED,
      message: "the cluster halted",
    });
  });

  it("refuses rejections that are not machine-readable", () => {
    expect(() => new RpcRejection(status.OK, "FINE", "x")).toThrow(TypeError);
    expect(() => new RpcRejection(status.INTERNAL, "queue full", "x")).toThrow(TypeError);
    expect(() => new RpcRejection(status.INTERNAL, tx.RejectReason.REJECT_REASON_UNSPECIFIED, "x")).toThrow(
      TypeError,
    );
    expect(readRejection(new Error("plain"))).toBeUndefined();
  });
});

describe("shutdown in process", () => {
  it("runs the steps in order, ends streams on the shutdown signal, and closes dependencies", async () => {
    const order: string[] = [];
    const nats = new BusStatusSource();
    let streamEnded = false;
    const { service, logs } = await start((built) => ({
      dependencies: { nats },
      hooks: {
        stopConsuming: () => {
          order.push(
            `stop_consuming (serving=${built.health.serving}, aborted=${built.shutdownSignal.aborted})`,
          );
        },
        drain: async () => {
          await new Promise((resolve) => setTimeout(resolve, 50));
          order.push("drain");
        },
      },
      services: [
        grpcService(voteaggregator.VoteAggregatorServiceService, {
          getSignatureStatuses: unary(() => voteaggregator.GetSignatureStatusesResponse.fromPartial({})),
          getClusterStatus: unary(() => voteaggregator.GetClusterStatusResponse.fromPartial({})),
          subscribeSignatures: serverStream(async () => {
            await new Promise((resolve) => built.shutdownSignal.addEventListener("abort", resolve));
            streamEnded = true;
          }),
        }),
      ],
    }));
    nats.report("connected");
    service.health.markReady();
    const client = new voteaggregator.VoteAggregatorServiceClient(
      `127.0.0.1:${service.grpcPort}`,
      credentials.createInsecure(),
    );
    clients.push(client);
    const stream = client.subscribeSignatures(voteaggregator.SubscribeSignaturesRequest.fromPartial({}));
    const streamClosed = new Promise((resolve) => stream.on("status", resolve));
    stream.on("data", () => {});
    await new Promise((resolve) => setTimeout(resolve, 100));

    const report = await service.shutdown("SIGTERM");
    running.splice(running.indexOf(service), 1);
    expect(report).toMatchObject({ completed: true, reason: "SIGTERM", pending: [], failed: [] });
    expect(order).toEqual(["stop_consuming (serving=false, aborted=true)", "drain"]);
    expect(streamEnded).toBe(true);
    expect(await streamClosed).toMatchObject({ code: status.OK });
    expect(nats.closed).toBe(true);
    expect(nats.listening).toBe(0);
    expect(logs.filter((line) => line.msg === "shutdown step done").map((line) => line.step)).toEqual([
      "not_serving",
      "stop_consuming",
      "drain",
      "stop_grpc",
      "close_dependencies",
      "stop_metrics",
    ]);
    expect(await service.shutdown("again")).toBe(report);
  });

  it("reports what is pending when a hook outlives the deadline", async () => {
    const { service, logs } = await start(
      () => ({ hooks: { drain: () => new Promise<void>(() => {}) } }),
      300,
    );
    const report = await service.shutdown("SIGTERM");
    running.splice(running.indexOf(service), 1);
    expect(report.completed).toBe(false);
    expect(report.pending).toEqual(["drain", "stop_grpc", "close_dependencies", "stop_metrics"]);
    expect(report.elapsedMs).toBeGreaterThanOrEqual(290);
    expect(logs).toContainEqual(
      expect.objectContaining({ level: "error", msg: "shutdown deadline passed with work pending" }),
    );
  });
});
