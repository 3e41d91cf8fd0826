import "@simd23/service-kit/telemetry";
import { connectNatsBus } from "@simd23/bus";
import { ExecutionMode } from "@simd23/core";
import { loadGenesis, validatorKeypair } from "@simd23/runtime";
import { envVar, loadConfig, startService } from "@simd23/service-kit";
import { connectRedisStore } from "@simd23/store";
import { startExecutor } from "./executor.js";

const proposerList = envVar.string({
  pattern: /^[^,\s]+(,[^,\s]+)*$/,
  expected: "a comma-separated list of proposer pool indices, names or hex keys",
});

const config = loadConfig({
  variables: {
    SIMD23_EXECUTOR_SNAPSHOT_INTERVAL_SLOTS: envVar.integer({ min: 1 }).default(32),
    SIMD23_EXECUTOR_REPAIR_TIMEOUT_MS: envVar.integer({ min: 1 }).default(2_000),
    SIMD23_EXECUTOR_REPAIR_BACKOFF_MAX_MS: envVar.integer({ min: 1 }).default(2_000),
    SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT: envVar.integer({ min: 1 }).optional(),
    SIMD23_FAULT_WITHHOLD_VOTES: envVar.boolean().default(false),
    SIMD23_FAULT_IGNORE_USER_BLOCKS_FROM: proposerList.optional(),
    SIMD23_FAULT_DELAY_USER_BLOCKS_FROM: proposerList.optional(),
    SIMD23_FAULT_USER_BLOCK_DELAY_MS: envVar.integer({ min: 0 }).default(0),
  },
});

await startService({
  role: "executor",
  config,
  async build({ config, logger, metrics, health }) {
    if (config.bus.kind !== "nats" || config.store.kind !== "redis") {
      throw new Error(
        "an executor process needs NATS and Redis; SIMD23_BUS/STORE=memory is for the embedded devnet",
      );
    }
    const genesis = loadGenesis(config.genesisPath);
    const keypair = validatorKeypair(genesis, config.clusterSeed, config.replicaOrdinal);
    const name = `executor-${config.replicaOrdinal}`;
    const bus = await connectNatsBus({ servers: config.bus.servers, namespace: config.namespace, name });
    const store = await connectRedisStore({
      url: config.store.url,
      namespace: config.namespace,
      clientName: name,
    });
    const role = config.role;
    const list = (value: string | undefined): string[] => (value === undefined ? [] : value.split(","));
    const executor = await startExecutor({
      genesis,
      keypair,
      bus,
      store,
      logger,
      metrics,
      health,
      settings: {
        snapshotIntervalSlots: role.SIMD23_EXECUTOR_SNAPSHOT_INTERVAL_SLOTS,
        repairTimeoutMs: role.SIMD23_EXECUTOR_REPAIR_TIMEOUT_MS,
        repairBackoffMaxMs: role.SIMD23_EXECUTOR_REPAIR_BACKOFF_MAX_MS,
        faults: {
          ...(role.SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT === undefined
            ? {}
            : { wrongBankHashFromSlot: role.SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT }),
          withholdVotes: role.SIMD23_FAULT_WITHHOLD_VOTES,
          ignoreUserBlocksFrom: list(role.SIMD23_FAULT_IGNORE_USER_BLOCKS_FROM),
          delayUserBlocksFrom: list(role.SIMD23_FAULT_DELAY_USER_BLOCKS_FROM),
          userBlockDelayMs: role.SIMD23_FAULT_USER_BLOCK_DELAY_MS,
        },
      },
    });
    return {
      services: executor.services,
      dependencies: { nats: bus, redis: store },
      hooks: executor.hooks,
      buildInfo: { mode: genesis.mode === ExecutionMode.EXECUTION_MODE_SYNC ? "sync" : "async" },
    };
  },
});
