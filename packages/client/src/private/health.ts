import { credentials, makeGenericClientConstructor, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

const HealthClient = makeGenericClientConstructor(healthService as never, "grpc.health.v1.Health");

export type HealthStatus = "SERVING" | "NOT_SERVING" | "UNKNOWN" | "SERVICE_UNKNOWN" | "UNREACHABLE";

const STATUS_NAMES = ["UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN"] as const;

/** One grpc.health.v1 Check of `service` ("" is readiness) at address; never throws. */
export function checkHealth(address: string, service = "", timeoutMs = 1_000): Promise<HealthStatus> {
  const client = new HealthClient(address, credentials.createInsecure()) as unknown as {
    check(
      request: { service: string },
      options: { deadline: Date },
      callback: (error: ServiceError | null, response?: { status: number | string }) => void,
    ): void;
    close(): void;
  };
  return new Promise((resolve) => {
    client.check({ service }, { deadline: new Date(Date.now() + timeoutMs) }, (error, response) => {
      client.close();
      if (error || !response) return resolve("UNREACHABLE");
      const status = typeof response.status === "number" ? STATUS_NAMES[response.status] : response.status;
      resolve((status as HealthStatus | undefined) ?? "UNKNOWN");
    });
  });
}

/** What a replica that was just started came up as: ready, or halted with the cluster. */
export type Readiness = "healthy" | "halted";

/** A replica whose readiness can be polled. */
export interface PolledReplica {
  readonly name: string;
  readonly grpcAddress: string;
  readonly metricsUrl: string;
  readonly logFile: string;
  readonly running: boolean;
}

/**
 * Polls readiness until it is SERVING. With `acceptHalted`, a replica whose readiness is
 * NOT_SERVING because it saw the cluster's halt (`simd23_<role>_halted 1`) counts as up too:
 * a validator restarted with a wrong-BankHash fault can halt the cluster while it replays.
 * Throws with the last status and the log's path on timeout or when the replica ends.
 */
export async function waitUntilUp(
  replica: PolledReplica,
  timeoutMs: number,
  options: { readonly acceptHalted: boolean },
): Promise<Readiness> {
  const deadline = Date.now() + timeoutMs;
  let status: HealthStatus = "UNREACHABLE";
  while (Date.now() < deadline) {
    if (!replica.running)
      throw new Error(`${replica.name} ended before it was healthy; see ${replica.logFile}`);
    status = await checkHealth(replica.grpcAddress);
    if (status === "SERVING") return "healthy";
    if (status === "NOT_SERVING" && options.acceptHalted && (await sawHalt(replica.metricsUrl)))
      return "halted";
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${replica.name} not healthy after ${timeoutMs} ms (last status ${status}); see ${replica.logFile}`,
  );
}

async function sawHalt(metricsUrl: string): Promise<boolean> {
  try {
    const response = await fetch(metricsUrl, { signal: AbortSignal.timeout(1_000) });
    return /^simd23_\w+_halted 1$/m.test(await response.text());
  } catch {
    return false;
  }
}
