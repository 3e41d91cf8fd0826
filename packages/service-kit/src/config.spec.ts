import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, envVar, loadConfig } from "./config.js";

const directory = mkdtempSync(join(tmpdir(), "simd23-config-"));
const genesis = join(directory, "genesis.json");
writeFileSync(genesis, "{}");
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const SEED = "ab".repeat(32);
const minimal = { SIMD23_GENESIS: genesis, SIMD23_CLUSTER_SEED: SEED };

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("loadConfig", () => {
  it("applies laptop defaults to everything but the genesis and the seed", () => {
    const config = loadConfig({ env: minimal });
    expect(config.genesisPath).toBe(genesis);
    expect(Buffer.from(config.clusterSeed).toString("hex")).toBe(SEED);
    expect(config.namespace).toBe("simd23");
    expect(config.bus).toEqual({ kind: "nats", servers: ["nats://127.0.0.1:4222"] });
    expect(config.store).toEqual({ kind: "redis", url: "redis://127.0.0.1:6379" });
    expect(config.bindAddress).toBe("0.0.0.0");
    expect(config.grpcPort).toBe(50051);
    expect(config.metricsPort).toBe(9464);
    expect(config.logLevel).toBe("info");
    expect(config.shutdownDeadlineMs).toBe(10_000);
    expect(config.replicaOrdinal).toBe(0);
    expect(config.telemetry).toEqual({
      sdkDisabled: false,
      exporterEndpoint: undefined,
      serviceName: undefined,
    });
    expect(config.role).toEqual({});
    expect(config.unrecognizedVariables).toEqual([]);
  });

  it("reads every common variable", () => {
    const config = loadConfig({
      env: {
        ...minimal,
        SIMD23_NAMESPACE: "testnet-7",
        SIMD23_NATS_URL: "nats://a:4222,nats://b:4222",
        SIMD23_STORE: "memory",
        SIMD23_BIND_ADDRESS: "127.0.0.1",
        SIMD23_GRPC_PORT: "0",
        SIMD23_METRICS_PORT: "9100",
        SIMD23_LOG_LEVEL: "debug",
        SIMD23_SHUTDOWN_DEADLINE_MS: "2500",
        SIMD23_REPLICA_ORDINAL: "simd23-executor-12",
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
        OTEL_SERVICE_NAME: "custom",
        OTEL_SDK_DISABLED: "false",
      },
    });
    expect(config.namespace).toBe("testnet-7");
    expect(config.bus).toEqual({ kind: "nats", servers: ["nats://a:4222", "nats://b:4222"] });
    expect(config.store).toEqual({ kind: "memory" });
    expect(config.bindAddress).toBe("127.0.0.1");
    expect(config.grpcPort).toBe(0);
    expect(config.metricsPort).toBe(9100);
    expect(config.logLevel).toBe("debug");
    expect(config.shutdownDeadlineMs).toBe(2500);
    expect(config.replicaOrdinal).toBe(12);
    expect(config.telemetry).toEqual({
      sdkDisabled: false,
      exporterEndpoint: "http://collector:4318",
      serviceName: "custom",
    });
  });

  it("takes a bare StatefulSet ordinal and the in-process bus", () => {
    const config = loadConfig({ env: { ...minimal, SIMD23_REPLICA_ORDINAL: "3", SIMD23_BUS: "memory" } });
    expect(config.replicaOrdinal).toBe(3);
    expect(config.bus).toEqual({ kind: "memory" });
  });

  it("prefers the traces endpoint and honours OTEL_TRACES_EXPORTER=none", () => {
    const both = {
      ...minimal,
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b:4318/v1/traces",
    };
    expect(loadConfig({ env: both }).telemetry.exporterEndpoint).toBe("http://b:4318/v1/traces");
    expect(
      loadConfig({ env: { ...both, OTEL_TRACES_EXPORTER: "none" } }).telemetry.exporterEndpoint,
    ).toBeUndefined();
    expect(loadConfig({ env: { ...minimal, OTEL_SDK_DISABLED: "TRUE" } }).telemetry.sdkDisabled).toBe(true);
  });

  it("treats an empty variable as unset", () => {
    expect(loadConfig({ env: { ...minimal, SIMD23_GRPC_PORT: "" } }).grpcPort).toBe(50051);
  });

  it("reports every problem at once, each naming its variable, what it expected and what it found", () => {
    const error = configError(() =>
      loadConfig({
        env: {
          SIMD23_GENESIS: join(directory, "missing.json"),
          SIMD23_GRPC_PORT: "http",
          SIMD23_METRICS_PORT: "70000",
          SIMD23_LOG_LEVEL: "loud",
          SIMD23_BUS: "kafka",
          SIMD23_REPLICA_ORDINAL: "executor",
          SIMD23_REDIS_URL: "http://localhost:6379",
          OTEL_SDK_DISABLED: "maybe",
        },
      }),
    );
    const byVariable = Object.fromEntries(error.problems.map((problem) => [problem.variable, problem]));
    expect(Object.keys(byVariable).sort()).toEqual([
      "OTEL_SDK_DISABLED",
      "SIMD23_BUS",
      "SIMD23_CLUSTER_SEED",
      "SIMD23_GENESIS",
      "SIMD23_GRPC_PORT",
      "SIMD23_LOG_LEVEL",
      "SIMD23_METRICS_PORT",
      "SIMD23_REDIS_URL",
      "SIMD23_REPLICA_ORDINAL",
    ]);
    expect(byVariable.SIMD23_GRPC_PORT).toEqual({
      variable: "SIMD23_GRPC_PORT",
      expected: "a TCP port from 0 to 65535",
      found: '"http"',
    });
    expect(byVariable.SIMD23_METRICS_PORT?.found).toBe('"70000"');
    expect(byVariable.SIMD23_CLUSTER_SEED).toEqual({
      variable: "SIMD23_CLUSTER_SEED",
      expected: "64 hex characters (32 bytes)",
      found: "nothing (the variable is unset)",
    });
    expect(byVariable.SIMD23_GENESIS?.expected).toContain("missing.json is not one");
    expect(byVariable.SIMD23_LOG_LEVEL?.expected).toContain('"info"');
    expect(byVariable.SIMD23_BUS?.expected).toBe('one of "nats", "memory"');
    expect(byVariable.SIMD23_REPLICA_ORDINAL?.expected).toBe(
      "a non-negative integer or a pod name ending in -<n>",
    );
    expect(byVariable.SIMD23_REDIS_URL?.expected).toBe("a URL starting with redis:// or rediss://");
    expect(error.message).toContain("invalid configuration (9 problems)");
    expect(error.message).toContain('SIMD23_GRPC_PORT: expected a TCP port from 0 to 65535, found "http"');
  });

  it("never prints a secret or a URL password", () => {
    const error = configError(() =>
      loadConfig({
        env: {
          ...minimal,
          SIMD23_CLUSTER_SEED: "not-hex-secret",
          SIMD23_REDIS_URL: "ftp://user:hunter2@host",
        },
      }),
    );
    expect(error.message).not.toContain("not-hex-secret");
    expect(error.message).not.toContain("hunter2");
    expect(error.message).toContain(
      "SIMD23_CLUSTER_SEED: expected 64 hex characters (32 bytes), found a value of 14",
    );
    expect(error.message).toContain('"ftp://user:***@host"');
  });

  it("checks the default genesis path exists", () => {
    const error = configError(() => loadConfig({ env: { SIMD23_CLUSTER_SEED: SEED } }));
    expect(error.problems).toEqual([
      expect.objectContaining({ variable: "SIMD23_GENESIS", found: "nothing (the variable is unset)" }),
    ]);
  });

  it("extends the schema with a role's variables, validated and reported with the common ones", () => {
    const variables = {
      SIMD23_PROPOSER_QUEUE_LIMIT: envVar.integer({ min: 1 }).default(10_000),
      SIMD23_PROPOSER_FORWARD: envVar.boolean().default(true),
      SIMD23_PROPOSER_REGION: envVar.oneOf(["eu", "us"]).optional(),
    };
    const config = loadConfig({ variables, env: { ...minimal, SIMD23_PROPOSER_FORWARD: "no" } });
    const queueLimit: number = config.role.SIMD23_PROPOSER_QUEUE_LIMIT;
    expect(queueLimit).toBe(10_000);
    expect(config.role.SIMD23_PROPOSER_FORWARD).toBe(false);
    expect(config.role.SIMD23_PROPOSER_REGION).toBeUndefined();

    const error = configError(() =>
      loadConfig({ variables, env: { ...minimal, SIMD23_PROPOSER_QUEUE_LIMIT: "0", SIMD23_GRPC_PORT: "x" } }),
    );
    expect(error.problems.map((problem) => problem.variable).sort()).toEqual([
      "SIMD23_GRPC_PORT",
      "SIMD23_PROPOSER_QUEUE_LIMIT",
    ]);
    expect(error.message).toContain(
      'SIMD23_PROPOSER_QUEUE_LIMIT: expected an integer of at least 1, found "0"',
    );
  });

  it("refuses role variables that are misnamed or shadow a common one", () => {
    expect(() => loadConfig({ variables: { queue_limit: envVar.integer() }, env: minimal })).toThrow(
      TypeError,
    );
    expect(() => loadConfig({ variables: { SIMD23_GRPC_PORT: envVar.port() }, env: minimal })).toThrow(
      "already a common variable",
    );
  });

  it("lists SIMD23_ variables nothing reads", () => {
    const config = loadConfig({ env: { ...minimal, SIMD23_GRPC_POTR: "1", OTHER: "x" } });
    expect(config.unrecognizedVariables).toEqual(["SIMD23_GRPC_POTR"]);
  });
});
