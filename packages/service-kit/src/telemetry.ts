// Starts OpenTelemetry before anything else loads. Every main.ts imports this module first
// (`import "@simd23/service-kit/telemetry";`), or the process runs with
// `node --import @simd23/service-kit/telemetry`. gRPC calls get client and server spans and
// carry W3C trace context in their metadata. Spans are exported over OTLP/HTTP only when
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set; without it they are
// still created, so trace ids still reach logs and propagate across gRPC and the bus.
// OTEL_SDK_DISABLED=true turns all of it off.
import { createRequire } from "node:module";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { GrpcInstrumentation } from "@opentelemetry/instrumentation-grpc";
import { defaultResource, resourceFromAttributes } from "@opentelemetry/resources";
import { NodeSDK } from "@opentelemetry/sdk-node";
import { BatchSpanProcessor, NoopSpanProcessor } from "@opentelemetry/sdk-trace-base";
import {
  ATTR_SERVICE_INSTANCE_ID,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_NAMESPACE,
} from "@opentelemetry/semantic-conventions";
import { z } from "zod";
import { TELEMETRY_VARIABLES, type TelemetryConfig, telemetryConfigOf } from "./config.js";
import {
  registerTelemetryRuntime,
  type ServiceIdentity,
  telemetryRuntime,
} from "./private/telemetry-runtime.js";

/** Health probes arrive every few seconds; tracing them would bury the spans that matter. */
const UNTRACED_METHODS = ["Check", "Watch"];

if (telemetryRuntime() === undefined) startTelemetry();

function startTelemetry(): void {
  const config = readTelemetryConfig();
  if (config.sdkDisabled) {
    registerTelemetryRuntime({ exporting: false, identify: () => {}, shutdown: async () => {} });
    return;
  }
  let resolveIdentity: (identity: ServiceIdentity) => void = () => {};
  const identity = new Promise<ServiceIdentity>((resolve) => {
    resolveIdentity = resolve;
  });
  // The role is known only once startService runs; exported spans wait for these attributes.
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK's own detector, still win.
  const resource = defaultResource().merge(
    resourceFromAttributes({
      [ATTR_SERVICE_NAME]: identity.then((value) => value.serviceName),
      [ATTR_SERVICE_NAMESPACE]: identity.then((value) => value.namespace),
      [ATTR_SERVICE_INSTANCE_ID]: identity.then((value) => value.instanceId),
    }),
  );
  const exporting = config.exporterEndpoint !== undefined;
  const sdk = new NodeSDK({
    resource,
    spanProcessors: [exporting ? new BatchSpanProcessor(new OTLPTraceExporter()) : new NoopSpanProcessor()],
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [new GrpcInstrumentation({ ignoreGrpcMethods: UNTRACED_METHODS })],
  });
  sdk.start();
  // Loading grpc-js through require() lets the instrumentation patch it before any ES module
  // binds its exports; an ES import alone would bypass the require hook.
  createRequire(import.meta.url)("@grpc/grpc-js");
  registerTelemetryRuntime({
    exporting,
    identify: resolveIdentity,
    shutdown: () => sdk.shutdown(),
  });
}

/** Invalid OTEL_* values leave exporting off here; loadConfig reports them and the service stops. */
function readTelemetryConfig(): TelemetryConfig {
  const input: Record<string, string | undefined> = {};
  for (const name of Object.keys(TELEMETRY_VARIABLES)) {
    const value = process.env[name];
    input[name] = value === "" ? undefined : value;
  }
  const parsed = z.object(TELEMETRY_VARIABLES).safeParse(input);
  if (parsed.success) return telemetryConfigOf(parsed.data);
  return { sdkDisabled: false, exporterEndpoint: undefined, serviceName: undefined };
}
