import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, type ServiceHandle, startService } from "@simd23/service-kit";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type PolledReplica, waitUntilUp } from "./health.js";

const directory = mkdtempSync(join(tmpdir(), "simd23-client-health-"));
const genesis = join(directory, "genesis.json");
writeFileSync(genesis, "{}");
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const running: ServiceHandle[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((service) => service.shutdown("test over")));
});

/** A service-kit service that has not said it is ready, seen as a devnet replica. */
async function replica(): Promise<{ service: ServiceHandle; polled: PolledReplica }> {
  const config = loadConfig({
    env: {
      SIMD23_GENESIS: genesis,
      SIMD23_CLUSTER_SEED: "11".repeat(32),
      SIMD23_BIND_ADDRESS: "127.0.0.1",
      SIMD23_GRPC_PORT: "0",
      SIMD23_METRICS_PORT: "0",
      SIMD23_LOG_LEVEL: "silent",
    },
  });
  const service = await startService({ role: "executor", config, build: () => ({}), manageProcess: false });
  running.push(service);
  const polled: PolledReplica = {
    name: "executor-0",
    grpcAddress: `127.0.0.1:${service.grpcPort}`,
    metricsUrl: `http://127.0.0.1:${service.metricsPort}/metrics`,
    logFile: "executor-0.log",
    running: true,
  };
  return { service, polled };
}

describe("waitUntilUp", () => {
  it("answers healthy once readiness is SERVING", async () => {
    const { service, polled } = await replica();
    setTimeout(() => service.health.markReady(), 300);
    expect(await waitUntilUp(polled, 5_000, { acceptHalted: false })).toBe("healthy");
  });

  it("answers halted for a replica that saw the cluster halt before it was ready, when asked to", async () => {
    const { service, polled } = await replica();
    service.health.halt("2 of 4 stake committed a wrong BankHash for slot 184");
    expect(await waitUntilUp(polled, 5_000, { acceptHalted: true })).toBe("halted");
    await expect(waitUntilUp(polled, 1_000, { acceptHalted: false })).rejects.toThrow(
      /^executor-0 not healthy after 1000 ms \(last status NOT_SERVING\); see executor-0\.log$/,
    );
  });

  it("does not take a replica that is only starting for a halted one", async () => {
    const { polled } = await replica();
    await expect(waitUntilUp(polled, 1_000, { acceptHalted: true })).rejects.toThrow(
      /not healthy after 1000 ms/,
    );
  });

  it("stops waiting when the replica ends", async () => {
    const { polled } = await replica();
    await expect(waitUntilUp({ ...polled, running: false }, 5_000, { acceptHalted: true })).rejects.toThrow(
      "executor-0 ended before it was healthy; see executor-0.log",
    );
  });
});
