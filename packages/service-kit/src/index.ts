// The one way a simd23 service starts. A role's main.ts imports "@simd23/service-kit/telemetry"
// first, then loads its configuration with `loadConfig` and calls `startService`.
export { z } from "zod";
export {
  type BusConfig,
  COMMON_VARIABLES,
  type CommonConfig,
  ConfigError,
  type ConfigProblem,
  type Environment,
  envVar,
  LOG_LEVELS,
  type LoadConfigOptions,
  type LogLevel,
  loadConfig,
  type RoleValues,
  type RoleVariables,
  type ServiceConfig,
  type StoreConfig,
  TELEMETRY_VARIABLES,
  type TelemetryConfig,
} from "./config.js";
export {
  callUnary,
  type GrpcServiceRegistration,
  GrpcStatus,
  grpcService,
  REASON_METADATA_KEY,
  type Rejection,
  RpcRejection,
  readRejection,
  rejectReasonName,
  serverStream,
  type UnaryMethod,
  unary,
} from "./grpc.js";
export {
  type Dependency,
  type DependencyStatus,
  HEALTH_LIVENESS,
  HEALTH_READINESS,
  type HealthControl,
  NOT_SERVING_DEPENDENCY_DOWN,
  NOT_SERVING_HALTED,
  NOT_SERVING_SHUTTING_DOWN,
  NOT_SERVING_STARTING,
} from "./health.js";
export { type CreateLoggerOptions, createLogger, type Logger } from "./logger.js";
export {
  type Counter,
  type CreateServiceMetricsOptions,
  checkLabelNames,
  checkMetricName,
  createServiceMetrics,
  type Gauge,
  type Histogram,
  type HistogramOptions,
  MetricNameError,
  type MetricOptions,
  type MetricType,
  metricRole,
  type Registry,
  type ServiceMetrics,
} from "./metrics.js";
export {
  type LifecycleHooks,
  type ServiceHandle,
  type ServiceParts,
  SHUTDOWN_STEPS,
  type ShutdownReport,
  type ShutdownStep,
  type StartServiceOptions,
  startService,
} from "./service.js";
export { extractTraceContext, injectTraceContext, type MessageHeaders } from "./trace-context.js";
