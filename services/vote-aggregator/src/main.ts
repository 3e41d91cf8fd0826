import "@simd23/service-kit/telemetry";
import { connectNatsBus } from "@simd23/bus";
import { ExecutionMode } from "@simd23/core";
import { loadGenesis } from "@simd23/runtime";
import { envVar, loadConfig, startService } from "@simd23/service-kit";
import { connectRedisStore } from "@simd23/store";
import { DEFAULT_VOTE_AGGREGATOR_OPTIONS as DEFAULTS, startVoteAggregator } from "./vote-aggregator.js";

const config = loadConfig({
  variables: {
    SIMD23_VOTE_AGGREGATOR_MAX_SIGNATURES: envVar
      .integer({ min: 1, max: 10_000 })
      .default(DEFAULTS.maxSignaturesPerRequest),
    SIMD23_VOTE_AGGREGATOR_SUBSCRIBER_QUEUE_LIMIT: envVar
      .integer({ min: 16 })
      .default(DEFAULTS.subscriberQueueLimit),
    SIMD23_VOTE_AGGREGATOR_SUBSCRIPTION_REFRESH_MS: envVar
      .integer({ min: 50, max: 60_000 })
      .default(DEFAULTS.subscriptionRefreshMs),
    SIMD23_VOTE_AGGREGATOR_STATUS_CACHE: envVar.integer({ min: 1 }).default(DEFAULTS.statusCacheSize),
    SIMD23_VOTE_AGGREGATOR_BLOCK_CACHE: envVar.integer({ min: 1 }).default(DEFAULTS.blockCacheSize),
    SIMD23_VOTE_AGGREGATOR_RETAIN_SLOTS: envVar.integer({ min: 8 }).default(DEFAULTS.retainSlots),
    SIMD23_VOTE_AGGREGATOR_VOTE_REPLAY_MS: envVar.integer({ min: 0 }).default(DEFAULTS.voteReplayMs),
    SIMD23_VOTE_AGGREGATOR_STATUS_TTL_MS: envVar.integer({ min: 1_000 }).default(DEFAULTS.statusTtlMs),
  },
});

await startService({
  role: "vote-aggregator",
  config,
  async build({ config, logger, metrics, health, shutdownSignal }) {
    if (config.bus.kind !== "nats" || config.store.kind !== "redis") {
      throw new Error(
        "a vote-aggregator process needs NATS and Redis; SIMD23_BUS/STORE=memory is for the embedded devnet",
      );
    }
    const genesis = loadGenesis(config.genesisPath);
    const name = `vote-aggregator-${config.replicaOrdinal}`;
    const bus = await connectNatsBus({ servers: config.bus.servers, namespace: config.namespace, name });
    const store = await connectRedisStore({
      url: config.store.url,
      namespace: config.namespace,
      clientName: name,
    });
    const role = config.role;
    const aggregator = startVoteAggregator({
      genesis,
      bus,
      store,
      logger,
      metrics,
      health,
      shutdownSignal,
      options: {
        maxSignaturesPerRequest: role.SIMD23_VOTE_AGGREGATOR_MAX_SIGNATURES,
        subscriberQueueLimit: role.SIMD23_VOTE_AGGREGATOR_SUBSCRIBER_QUEUE_LIMIT,
        subscriptionRefreshMs: role.SIMD23_VOTE_AGGREGATOR_SUBSCRIPTION_REFRESH_MS,
        statusCacheSize: role.SIMD23_VOTE_AGGREGATOR_STATUS_CACHE,
        blockCacheSize: role.SIMD23_VOTE_AGGREGATOR_BLOCK_CACHE,
        retainSlots: role.SIMD23_VOTE_AGGREGATOR_RETAIN_SLOTS,
        voteReplayMs: role.SIMD23_VOTE_AGGREGATOR_VOTE_REPLAY_MS,
        statusTtlMs: role.SIMD23_VOTE_AGGREGATOR_STATUS_TTL_MS,
      },
    });
    return {
      services: [aggregator.service],
      dependencies: { nats: bus, redis: store },
      hooks: aggregator.hooks,
      buildInfo: { mode: genesis.mode === ExecutionMode.EXECUTION_MODE_SYNC ? "sync" : "async" },
    };
  },
});
