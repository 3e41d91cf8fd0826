import "@simd23/service-kit/telemetry";
import { connectNatsBus } from "@simd23/bus";
import { ExecutionMode } from "@simd23/core";
import { proposer } from "@simd23/proto";
import { loadGenesis } from "@simd23/runtime";
import { grpcService, loadConfig, startService } from "@simd23/service-kit";
import { connectRedisStore } from "@simd23/store";
import { PROPOSER_VARIABLES, proposerSettings } from "./config.js";
import { startProposer } from "./proposer.js";

const config = loadConfig({ variables: PROPOSER_VARIABLES });

await startService({
  role: "proposer",
  config,
  async build({ config, logger, metrics, health, tracer, grpcPort }) {
    if (config.bus.kind !== "nats" || config.store.kind !== "redis") {
      throw new Error(
        "a proposer process needs NATS and Redis; SIMD23_BUS/STORE=memory is for the embedded devnet",
      );
    }
    const genesis = loadGenesis(config.genesisPath);
    const name = `proposer-${config.replicaOrdinal}`;
    const bus = await connectNatsBus({ servers: config.bus.servers, namespace: config.namespace, name });
    const store = await connectRedisStore({
      url: config.store.url,
      namespace: config.namespace,
      clientName: name,
    });
    const role = startProposer({
      genesis,
      clusterSeed: config.clusterSeed,
      bus,
      store,
      logger,
      metrics,
      health,
      tracer,
      advertiseAddress: config.role.SIMD23_ADVERTISE_ADDRESS ?? `127.0.0.1:${grpcPort}`,
      settings: proposerSettings(config.role, config.shutdownDeadlineMs),
    });
    return {
      services: [grpcService(proposer.ProposerServiceService, role.implementation)],
      dependencies: { nats: bus, redis: store },
      hooks: role.hooks,
      buildInfo: { mode: genesis.mode === ExecutionMode.EXECUTION_MODE_SYNC ? "sync" : "async" },
    };
  },
});
