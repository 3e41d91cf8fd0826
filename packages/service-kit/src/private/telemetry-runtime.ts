// The telemetry entry point (`@simd23/service-kit/telemetry`) and the lifecycle may be loaded
// as separate module instances (e.g. one through `node --import`), so they meet through a
// process-wide symbol rather than a shared module variable.

const RUNTIME_KEY = Symbol.for("@simd23/service-kit/telemetry-runtime");

export interface ServiceIdentity {
  readonly serviceName: string;
  readonly namespace: string;
  readonly instanceId: string;
}

export interface TelemetryRuntime {
  /** True when spans leave the process (an OTLP endpoint is configured). */
  readonly exporting: boolean;
  /** Names the resource every span carries; spans wait for it before they are exported. */
  identify(identity: ServiceIdentity): void;
  /** Flushes pending spans and stops the SDK. */
  shutdown(): Promise<void>;
}

export function registerTelemetryRuntime(runtime: TelemetryRuntime): void {
  (globalThis as Record<symbol, unknown>)[RUNTIME_KEY] = runtime;
}

export function telemetryRuntime(): TelemetryRuntime | undefined {
  return (globalThis as Record<symbol, unknown>)[RUNTIME_KEY] as TelemetryRuntime | undefined;
}
