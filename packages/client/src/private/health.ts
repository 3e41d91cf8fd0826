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
