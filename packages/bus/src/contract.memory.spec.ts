import { describe, it } from "vitest";
import { createMemoryBus, createMemoryBusServer, type MemoryBusServer } from "./memory.js";
import { CONTRACT_CHECKS, runContractCheck } from "./private/contract.js";
import type { StreamLimitOverrides } from "./types.js";

// Buses opened on one namespace share one in-process server, as processes share NATS.
const servers = new Map<string, MemoryBusServer>();
async function openMemoryBus(namespace: string, streams?: StreamLimitOverrides) {
  let server = servers.get(namespace);
  if (server === undefined) {
    server = createMemoryBusServer();
    servers.set(namespace, server);
  }
  return createMemoryBus({ namespace, server, streams });
}

describe("bus contract: in-process adapter", () => {
  for (const check of CONTRACT_CHECKS) {
    it.concurrent(check.name, () => runContractCheck(check, openMemoryBus));
  }
});
