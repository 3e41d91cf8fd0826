import "@simd23/service-kit/telemetry";
import { connectNatsBus } from "@simd23/bus";
import { ExecutionMode } from "@simd23/core";
import { leader } from "@simd23/proto";
import { leaderKeypair, loadGenesis } from "@simd23/runtime";
import { grpcService, loadConfig, startService } from "@simd23/service-kit";
import { connectRedisStore } from "@simd23/store";
import { LEADER_VARIABLES, settingsFromConfig } from "./config.js";
import { startLeader } from "./leader.js";

const config = loadConfig({ variables: LEADER_VARIABLES });

await startService({
  role: "leader",
  config,
  async build({ config, logger, metrics, health }) {
    if (config.bus.kind !== "nats" || config.store.kind !== "redis") {
      throw new Error(
        "a leader process needs NATS and Redis; SIMD23_BUS/STORE=memory is for the embedded devnet",
      );
    }
    const genesis = loadGenesis(config.genesisPath);
    const keypair = leaderKeypair(genesis, config.clusterSeed, config.replicaOrdinal);
    const name = `leader-${config.replicaOrdinal}`;
    const bus = await connectNatsBus({ servers: config.bus.servers, namespace: config.namespace, name });
    const store = await connectRedisStore({
      url: config.store.url,
      namespace: config.namespace,
      clientName: name,
    });
    try {
      const role = await startLeader({
        genesis,
        keypair,
        bus,
        store,
        logger,
        metrics,
        health,
        settings: settingsFromConfig(config.role),
      });
      return {
        services: [grpcService(leader.LeaderServiceService, role.implementation)],
        dependencies: { nats: bus, redis: store },
        hooks: role.hooks,
        buildInfo: { mode: genesis.mode === ExecutionMode.EXECUTION_MODE_SYNC ? "sync" : "async" },
      };
    } catch (error) {
      await Promise.allSettled([bus.close(), store.close()]);
      throw error;
    }
  },
});
