import "@simd23/service-kit/telemetry";
import { connectNatsBus } from "@simd23/bus";
import { ExecutionMode } from "@simd23/core";
import { loadGenesis, verifierKeypair } from "@simd23/runtime";
import { envVar, loadConfig, startService } from "@simd23/service-kit";
import { connectRedisStore } from "@simd23/store";
import { startBankHashVerifier } from "./verifier.js";

const config = loadConfig({
  variables: {
    SIMD23_BANK_HASH_VERIFIER_RETAIN_FINALIZED_SLOTS: envVar.integer({ min: 0 }).default(64),
    SIMD23_BANK_HASH_VERIFIER_REPAIR_TIMEOUT_MS: envVar.integer({ min: 1 }).default(2_000),
    SIMD23_BANK_HASH_VERIFIER_REPAIR_BACKOFF_MAX_MS: envVar.integer({ min: 1 }).default(2_000),
  },
});

await startService({
  role: "bank-hash-verifier",
  config,
  async build({ config, logger, metrics, health }) {
    if (config.bus.kind !== "nats" || config.store.kind !== "redis") {
      throw new Error(
        "a bank-hash verifier process needs NATS and Redis; SIMD23_BUS/STORE=memory is for the embedded devnet",
      );
    }
    const genesis = loadGenesis(config.genesisPath);
    const keypair = verifierKeypair(genesis, config.clusterSeed);
    const name = `bank-hash-verifier-${config.replicaOrdinal}`;
    const bus = await connectNatsBus({ servers: config.bus.servers, namespace: config.namespace, name });
    const store = await connectRedisStore({
      url: config.store.url,
      namespace: config.namespace,
      clientName: name,
    });
    const verifier = await startBankHashVerifier({
      genesis,
      keypair,
      bus,
      store,
      logger,
      metrics,
      health,
      settings: {
        retainFinalizedSlots: config.role.SIMD23_BANK_HASH_VERIFIER_RETAIN_FINALIZED_SLOTS,
        repairTimeoutMs: config.role.SIMD23_BANK_HASH_VERIFIER_REPAIR_TIMEOUT_MS,
        repairBackoffMaxMs: config.role.SIMD23_BANK_HASH_VERIFIER_REPAIR_BACKOFF_MAX_MS,
      },
    });
    return {
      services: verifier.services,
      dependencies: { nats: bus, redis: store },
      hooks: verifier.hooks,
      buildInfo: { mode: genesis.mode === ExecutionMode.EXECUTION_MODE_SYNC ? "sync" : "async" },
    };
  },
});
