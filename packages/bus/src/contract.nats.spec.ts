import { describe, it } from "vitest";
import { connectNatsBus } from "./nats.js";
import { CONTRACT_CHECKS, runContractCheck } from "./private/contract.js";

const servers = process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222";

describe("bus contract: NATS JetStream adapter", () => {
  for (const check of CONTRACT_CHECKS) {
    it.concurrent(check.name, () =>
      runContractCheck(check, (namespace, streams) =>
        connectNatsBus({ servers, namespace, name: "bus-contract", streams }),
      ),
    );
  }
});
