import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { type Tracer, trace } from "@opentelemetry/api";
import type { DestinationStream } from "pino";
import type { RoleVariables, ServiceConfig } from "./config.js";
import type { GrpcServiceRegistration } from "./grpc.js";
import type { Dependency, HealthControl } from "./health.js";
import { createLogger, type Logger } from "./logger.js";
import { createServiceMetrics, type ServiceMetrics } from "./metrics.js";
import { GrpcServer } from "./private/grpc-server.js";
import { HealthState } from "./private/health-state.js";
import { type MetricsServer, startMetricsServer } from "./private/metrics-server.js";
import { redactUrlPassword } from "./private/redact.js";
import { createStandardMetrics } from "./private/standard-metrics.js";
import { telemetryRuntime } from "./private/telemetry-runtime.js";

/** What the role does in a graceful shutdown, between readiness going NOT_SERVING and gRPC stopping. */
export interface LifecycleHooks {
  /** Stop taking new work from the bus (unsubscribe, end pull loops). */
  stopConsuming?(): Promise<void> | void;
  /** Finish the work already taken: process, publish, acknowledge. */
  drain?(): Promise<void> | void;
}

/** What a role's `build` returns: the pieces the kit runs and stops for it. */
export interface ServiceParts {
  readonly services?: readonly GrpcServiceRegistration[];
  /** Bus and store connections by name (the `dependency` label: `nats`, `redis`); closed last. */
  readonly dependencies?: Readonly<Record<string, Dependency>>;
  readonly hooks?: LifecycleHooks;
  /** The `mode` label of `simd23_<role>_build_info` (the genesis execution mode, `async`/`sync`). */
  readonly buildInfo?: { readonly mode: string };
}

export interface StartServiceOptions<V extends RoleVariables> {
  /** The role: lower-case words joined by `-`, e.g. `proposer`, `vote-aggregator`. */
  readonly role: string;
  readonly config: ServiceConfig<V>;
  /** Creates the role's objects with the service's logger, metrics and health, and returns its parts. */
  readonly build: (service: ServiceHandle<V>) => Promise<ServiceParts> | ServiceParts;
  /**
   * Own the process (default true): SIGTERM/SIGINT/SIGHUP shut down gracefully and exit 0 (1 when the
   * deadline passes or a step fails), an uncaught error is logged and exits 1, and a failure to
   * start is logged and exits 1. Tests running several services in one process pass false.
   */
  readonly manageProcess?: boolean;
  /** Where log lines go (standard output by default). */
  readonly logDestination?: DestinationStream;
}

/** A running service, as handed to `build` and returned by `startService`. */
export interface ServiceHandle<V extends RoleVariables = RoleVariables> {
  readonly role: string;
  readonly config: ServiceConfig<V>;
  readonly logger: Logger;
  readonly metrics: ServiceMetrics;
  readonly health: HealthControl;
  readonly tracer: Tracer;
  /** The port gRPC listens on (useful when configured as 0). */
  readonly grpcPort: number;
  /** The port `/metrics` is served on. */
  readonly metricsPort: number;
  /** Aborts when shutdown begins: long-lived streams and loops end on it. */
  readonly shutdownSignal: AbortSignal;
  /**
   * Shuts down gracefully (idempotent): readiness NOT_SERVING → `stopConsuming` → `drain` →
   * gRPC stops after its calls in flight → dependencies close → metrics server stops, all within
   * `SIMD23_SHUTDOWN_DEADLINE_MS`. A managed process then exits.
   */
  shutdown(reason?: string): Promise<ShutdownReport>;
}

export interface ShutdownReport {
  /** Every step finished, without error, before the deadline. */
  readonly completed: boolean;
  readonly reason: string;
  readonly elapsedMs: number;
  /** What was still running when the deadline passed; empty otherwise. */
  readonly pending: readonly string[];
  /** Steps that threw. */
  readonly failed: readonly string[];
}

/** Shutdown steps in order, as they appear in logs (`step`) and in a report's `pending`. */
export const SHUTDOWN_STEPS = [
  "not_serving",
  "stop_consuming",
  "drain",
  "stop_grpc",
  "close_dependencies",
  "stop_metrics",
] as const;
export type ShutdownStep = (typeof SHUTDOWN_STEPS)[number];

const ROLE_NAME = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const KIT_VERSION = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/**
 * Starts a service: logger, metrics (served at `/metrics`), gRPC with `grpc.health.v1`
 * (readiness NOT_SERVING until the role calls `health.markReady()` and every dependency is
 * ready), then the role's `build`, then its gRPC services and dependency watches.
 */
export async function startService<V extends RoleVariables>(
  options: StartServiceOptions<V>,
): Promise<ServiceHandle<V>> {
  const { role, config } = options;
  if (!ROLE_NAME.test(role))
    throw new TypeError(`role ${JSON.stringify(role)}: use lower-case words joined by -`);
  const manageProcess = options.manageProcess ?? true;
  const logger = createLogger({
    role,
    replica: config.replicaOrdinal,
    level: config.logLevel,
    ...(options.logDestination ? { destination: options.logDestination } : {}),
  });
  if (manageProcess) exitOnUncaughtErrors(logger);

  const telemetry = telemetryRuntime();
  telemetry?.identify({
    serviceName: config.telemetry.serviceName ?? `simd23-${role}`,
    namespace: config.namespace,
    instanceId: `${role}-${config.replicaOrdinal}`,
  });
  logStart(logger, config, telemetry?.exporting);
  if (manageProcess && telemetry === undefined) {
    logger.warn("telemetry is not running: import @simd23/service-kit/telemetry first in main.ts");
  }

  const metrics = createServiceMetrics(role);
  const standard = createStandardMetrics(metrics);
  standard.buildInfo.set({ version: KIT_VERSION, mode: "unknown" }, 1);
  const health = new HealthState(logger, standard);
  const grpc = new GrpcServer(logger, standard);
  health.implementation.addToServer(grpc.server);

  let metricsServer: MetricsServer | undefined;
  let grpcPort: number;
  try {
    grpcPort = await grpc.bind(config.bindAddress, config.grpcPort);
    metricsServer = await startMetricsServer(
      metrics.registry,
      config.bindAddress,
      config.metricsPort,
      logger,
    );
  } catch (error) {
    grpc.forceStop();
    await metricsServer?.close();
    return failToStart(logger, manageProcess, error);
  }
  const runningMetricsServer = metricsServer;

  const abort = new AbortController();
  let parts: ServiceParts = {};
  const unwatch: (() => void)[] = [];
  let shutdownStarted: Promise<ShutdownReport> | undefined;
  let built: Promise<unknown> = Promise.resolve();

  const service: ServiceHandle<V> = {
    role,
    config,
    logger,
    metrics,
    health,
    tracer: trace.getTracer(`simd23-${role}`, KIT_VERSION),
    grpcPort,
    metricsPort: runningMetricsServer.port,
    shutdownSignal: abort.signal,
    shutdown(reason = "requested") {
      shutdownStarted ??= runShutdown(reason).then((report) => {
        if (manageProcess) process.exit(report.completed ? 0 : 1);
        return report;
      });
      return shutdownStarted;
    },
  };

  async function runShutdown(reason: string): Promise<ShutdownReport> {
    const startedAt = performance.now();
    const deadlineMs = config.shutdownDeadlineMs;
    logger.info({ reason, deadlineMs }, "shutting down");
    let current: ShutdownStep | undefined;
    const failed: ShutdownStep[] = [];
    const openDependencies = new Set<string>();
    const actions: Record<ShutdownStep, () => Promise<void> | void> = {
      not_serving: () => {
        health.beginShutdown();
        abort.abort(new Error(`shutting down: ${reason}`));
      },
      stop_consuming: () => parts.hooks?.stopConsuming?.(),
      drain: () => parts.hooks?.drain?.(),
      stop_grpc: () => grpc.stop(),
      close_dependencies: async () => {
        for (const stop of unwatch) stop();
        const dependencies = Object.entries(parts.dependencies ?? {});
        for (const [name] of dependencies) openDependencies.add(name);
        const results = await Promise.allSettled(
          dependencies.map(async ([name, dependency]) => {
            await dependency.close();
            openDependencies.delete(name);
            logger.info({ dependency: name }, "dependency closed");
          }),
        );
        const rejected = results.find((result) => result.status === "rejected");
        if (rejected) throw rejected.reason;
      },
      stop_metrics: () => runningMetricsServer.close(),
    };
    const steps = (async () => {
      // A shutdown during build waits for build, so its parts are stopped too.
      await built.catch(() => {});
      for (const step of SHUTDOWN_STEPS) {
        current = step;
        const stepStartedAt = performance.now();
        try {
          await actions[step]();
          logger.info({ step, ms: Math.round(performance.now() - stepStartedAt) }, "shutdown step done");
        } catch (error) {
          failed.push(step);
          logger.error({ step, err: error }, "shutdown step failed");
        }
      }
      current = undefined;
    })();

    let timer: NodeJS.Timeout | undefined;
    const deadlinePassed = new Promise<true>((resolve) => {
      timer = setTimeout(() => resolve(true), deadlineMs);
    });
    const timedOut = await Promise.race([steps.then(() => false as const), deadlinePassed]);
    clearTimeout(timer);
    const elapsed = (): number => Math.round(performance.now() - startedAt);

    if (timedOut) {
      const pending = pendingWork(current, openDependencies, grpc.inFlightCalls());
      logger.error({ deadlineMs, pending, failed }, "shutdown deadline passed with work pending");
      return { completed: false, reason, elapsedMs: elapsed(), pending, failed };
    }
    await flushTelemetry(deadlineMs - (performance.now() - startedAt));
    const completed = failed.length === 0;
    if (completed) logger.info({ ms: elapsed() }, "shutdown complete");
    else logger.error({ ms: elapsed(), failed }, "shutdown finished with failed steps");
    return { completed, reason, elapsedMs: elapsed(), pending: [], failed };
  }

  async function flushTelemetry(remainingMs: number): Promise<void> {
    if (telemetry === undefined || !manageProcess) return;
    let timer: NodeJS.Timeout | undefined;
    const flushed = await Promise.race([
      telemetry.shutdown().then(() => true),
      new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), Math.max(0, remainingMs));
      }),
    ]).catch(() => false);
    clearTimeout(timer);
    if (!flushed) logger.warn("spans not flushed before the shutdown deadline");
  }

  if (manageProcess) {
    // SIGHUP too: a closed terminal must not kill a role without its graceful shutdown.
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
      process.on(signal, () => {
        if (shutdownStarted) logger.warn({ signal }, "already shutting down");
        else void service.shutdown(signal);
      });
    }
  }

  try {
    built = Promise.resolve(options.build(service));
    parts = (await built) as ServiceParts;
    for (const registration of parts.services ?? []) health.addReadinessName(grpc.addService(registration));
    for (const [name, dependency] of Object.entries(parts.dependencies ?? {})) {
      unwatch.push(health.watch(name, dependency));
    }
    if (parts.buildInfo) {
      standard.buildInfo.reset();
      standard.buildInfo.set({ version: KIT_VERSION, mode: parts.buildInfo.mode }, 1);
    }
    health.markStarted();
  } catch (error) {
    if (!shutdownStarted) {
      grpc.forceStop();
      await runningMetricsServer.close();
    }
    return failToStart(logger, manageProcess, error);
  }
  logger.info(
    { grpcPort, metricsPort: runningMetricsServer.port, dependencies: Object.keys(parts.dependencies ?? {}) },
    "service started",
  );
  return service;
}

function pendingWork(
  current: ShutdownStep | undefined,
  openDependencies: ReadonlySet<string>,
  callsInFlight: readonly string[],
): string[] {
  if (current === undefined) return [];
  const pending: string[] = [current];
  if (current === "stop_grpc") pending.push(...callsInFlight.map((method) => `gRPC call ${method}`));
  if (current === "close_dependencies")
    pending.push(...[...openDependencies].map((name) => `dependency ${name}`));
  pending.push(...SHUTDOWN_STEPS.slice(SHUTDOWN_STEPS.indexOf(current) + 1));
  return pending;
}

function failToStart(logger: Logger, manageProcess: boolean, error: unknown): never {
  logger.fatal({ err: error }, "service failed to start");
  if (manageProcess) process.exit(1);
  throw error;
}

function exitOnUncaughtErrors(logger: Logger): void {
  const exit = (kind: string) => (error: unknown) => {
    logger.fatal({ err: error }, `${kind}: exiting`);
    process.exit(1);
  };
  process.on("uncaughtException", exit("uncaught exception"));
  process.on("unhandledRejection", exit("unhandled promise rejection"));
}

function logStart(
  logger: Logger,
  config: ServiceConfig<RoleVariables>,
  exportingSpans: boolean | undefined,
): void {
  logger.info(
    {
      namespace: config.namespace,
      genesis: config.genesisPath,
      bus: config.bus.kind === "nats" ? config.bus.servers.map(redactUrlPassword) : "memory",
      store: config.store.kind === "redis" ? redactUrlPassword(config.store.url) : "memory",
      bindAddress: config.bindAddress,
      grpcPort: config.grpcPort,
      metricsPort: config.metricsPort,
      shutdownDeadlineMs: config.shutdownDeadlineMs,
      telemetry:
        exportingSpans === undefined ? "not started" : exportingSpans ? "exporting" : "not exporting",
    },
    "service starting",
  );
  if (config.unrecognizedVariables.length > 0) {
    logger.warn(
      { variables: config.unrecognizedVariables },
      "environment variables that no setting reads (misspelt?)",
    );
  }
}
