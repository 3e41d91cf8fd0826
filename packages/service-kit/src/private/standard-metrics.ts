import type { Counter, Gauge, Histogram, ServiceMetrics } from "../metrics.js";

/** The metrics every role exports (docs/metrics.md, "Every role"), besides `simd23_<role>_slot`. */
export interface StandardMetrics {
  readonly up: Gauge;
  readonly halted: Gauge;
  readonly dependencyUp: Gauge<"dependency">;
  readonly notServing: Gauge<"reason">;
  readonly buildInfo: Gauge<"version" | "mode">;
  readonly grpcRequests: Counter<"method" | "code">;
  readonly grpcRequestDuration: Histogram<"method">;
}

export function createStandardMetrics(metrics: ServiceMetrics): StandardMetrics {
  const prefix = metrics.prefix;
  return {
    up: metrics.gauge({ name: `${prefix}_up`, help: "1 while the readiness health status is SERVING." }),
    halted: metrics.gauge({ name: `${prefix}_halted`, help: "1 once the role saw a valid halt on CONTROL." }),
    dependencyUp: metrics.gauge({
      name: `${prefix}_dependency_up`,
      help: "1 while the dependency (NATS, Redis) is connected and ready.",
      labelNames: ["dependency"],
    }),
    notServing: metrics.gauge({
      name: `${prefix}_not_serving`,
      help: "1 while this reason holds the readiness health status at NOT_SERVING.",
      labelNames: ["reason"],
    }),
    buildInfo: metrics.gauge({
      name: `${prefix}_build_info`,
      help: "Always 1; the labels say which build runs and in which execution mode.",
      labelNames: ["version", "mode"],
    }),
    grpcRequests: metrics.counter({
      name: `${prefix}_grpc_requests_total`,
      help: "gRPC calls served (health checks excluded), by method and status code.",
      labelNames: ["method", "code"],
    }),
    grpcRequestDuration: metrics.histogram({
      name: `${prefix}_grpc_request_duration_seconds`,
      help: "Time from a gRPC call's start to its status (health checks excluded).",
      labelNames: ["method"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    }),
  };
}
