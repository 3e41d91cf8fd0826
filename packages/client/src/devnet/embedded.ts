import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import type { MemoryBusServer } from "@simd23/bus";
import type { ServiceHandle } from "@simd23/service-kit";
import type { MemoryDatabase } from "@simd23/store";
import { waitUntilUp } from "../private/health.js";
import type { Role } from "./processes.js";

/**
 * What the roles of an embedded devnet share: one in-process bus server and one in-process
 * database, as processes share one NATS and one Redis. Loaded on demand, so the SDK does not load
 * the services.
 */
export interface EmbeddedWorld {
  readonly busServer: MemoryBusServer;
  readonly database: MemoryDatabase;
}

export async function createEmbeddedWorld(): Promise<EmbeddedWorld> {
  const [{ createMemoryBusServer }, { createMemoryDatabase }] = await Promise.all([
    import("@simd23/bus"),
    import("@simd23/store"),
  ]);
  return { busServer: createMemoryBusServer(), database: createMemoryDatabase() };
}

/** A running service's handle, as `startService` returns it, whatever the role's variables. */
type Handle = Pick<ServiceHandle, "grpcPort" | "metricsPort" | "shutdown">;

/**
 * Starts one role in this process exactly as its main.ts would, but on the in-process bus and
 * store and with `manageProcess: false`: the configuration comes from `env` through the kit's
 * `loadConfig` (with SIMD23_BUS/STORE=memory), the role's own start function does the work.
 */
async function startEmbeddedService(
  role: Role,
  env: Readonly<Record<string, string>>,
  world: EmbeddedWorld,
  log: WriteStream,
): Promise<Handle> {
  const [kit, { createMemoryBus }, { createMemoryStore }, runtime, core, proto] = await Promise.all([
    import("@simd23/service-kit"),
    import("@simd23/bus"),
    import("@simd23/store"),
    import("@simd23/runtime"),
    import("@simd23/core"),
    import("@simd23/proto"),
  ]);
  const connections = (namespace: string) => ({
    bus: createMemoryBus({ namespace, server: world.busServer }),
    store: createMemoryStore({ namespace, database: world.database }),
  });
  const modeOf = (genesis: { mode: number }) =>
    genesis.mode === core.ExecutionMode.EXECUTION_MODE_SYNC ? "sync" : "async";
  const common = { manageProcess: false, logDestination: log } as const;

  switch (role) {
    case "leader": {
      const { LEADER_VARIABLES, settingsFromConfig, startLeader } = await import("@simd23/service-leader");
      const config = kit.loadConfig({ variables: LEADER_VARIABLES, env });
      return kit.startService({
        ...common,
        role,
        config,
        async build({ config, logger, metrics, health }) {
          const genesis = runtime.loadGenesis(config.genesisPath);
          const { bus, store } = connections(config.namespace);
          const leader = await startLeader({
            genesis,
            keypair: runtime.leaderKeypair(genesis, config.clusterSeed, config.replicaOrdinal),
            bus,
            store,
            logger,
            metrics,
            health,
            settings: settingsFromConfig(config.role),
          });
          return {
            services: [kit.grpcService(proto.leader.LeaderServiceService, leader.implementation)],
            dependencies: { nats: bus, redis: store },
            hooks: leader.hooks,
            buildInfo: { mode: modeOf(genesis) },
          };
        },
      });
    }
    case "proposer": {
      const { PROPOSER_VARIABLES, proposerSettings, startProposer } = await import(
        "@simd23/service-proposer"
      );
      const config = kit.loadConfig({ variables: PROPOSER_VARIABLES, env });
      return kit.startService({
        ...common,
        role,
        config,
        build({ config, logger, metrics, health, tracer, grpcPort }) {
          const genesis = runtime.loadGenesis(config.genesisPath);
          const { bus, store } = connections(config.namespace);
          const proposer = startProposer({
            genesis,
            clusterSeed: config.clusterSeed,
            bus,
            store,
            logger,
            metrics,
            health,
            tracer,
            advertiseAddress: `127.0.0.1:${grpcPort}`,
            settings: proposerSettings(config.role, config.shutdownDeadlineMs),
          });
          return {
            services: [kit.grpcService(proto.proposer.ProposerServiceService, proposer.implementation)],
            dependencies: { nats: bus, redis: store },
            hooks: proposer.hooks,
            buildInfo: { mode: modeOf(genesis) },
          };
        },
      });
    }
    case "executor": {
      const { startExecutor } = await import("@simd23/service-executor");
      const list = kit.envVar.string({
        pattern: /^[^,\s]+(,[^,\s]+)*$/,
        expected: "a comma-separated list of proposer pool indices, names or hex keys",
      });
      // The executor's variables as services/executor/src/main.ts declares them.
      const config = kit.loadConfig({
        variables: {
          SIMD23_EXECUTOR_SNAPSHOT_INTERVAL_SLOTS: kit.envVar.integer({ min: 1 }).default(32),
          SIMD23_EXECUTOR_REPAIR_TIMEOUT_MS: kit.envVar.integer({ min: 1 }).default(2_000),
          SIMD23_EXECUTOR_REPAIR_BACKOFF_MAX_MS: kit.envVar.integer({ min: 1 }).default(2_000),
          SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT: kit.envVar.integer({ min: 1 }).optional(),
          SIMD23_FAULT_WITHHOLD_VOTES: kit.envVar.boolean().default(false),
          SIMD23_FAULT_IGNORE_USER_BLOCKS_FROM: list.optional(),
          SIMD23_FAULT_DELAY_USER_BLOCKS_FROM: list.optional(),
          SIMD23_FAULT_USER_BLOCK_DELAY_MS: kit.envVar.integer({ min: 0 }).default(0),
        },
        env,
      });
      return kit.startService({
        ...common,
        role,
        config,
        async build({ config, logger, metrics, health }) {
          const genesis = runtime.loadGenesis(config.genesisPath);
          const { bus, store } = connections(config.namespace);
          const values = config.role;
          const split = (value: string | undefined): string[] =>
            value === undefined ? [] : value.split(",");
          const executor = await startExecutor({
            genesis,
            keypair: runtime.validatorKeypair(genesis, config.clusterSeed, config.replicaOrdinal),
            bus,
            store,
            logger,
            metrics,
            health,
            settings: {
              snapshotIntervalSlots: values.SIMD23_EXECUTOR_SNAPSHOT_INTERVAL_SLOTS,
              repairTimeoutMs: values.SIMD23_EXECUTOR_REPAIR_TIMEOUT_MS,
              repairBackoffMaxMs: values.SIMD23_EXECUTOR_REPAIR_BACKOFF_MAX_MS,
              faults: {
                ...(values.SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT === undefined
                  ? {}
                  : { wrongBankHashFromSlot: values.SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT }),
                withholdVotes: values.SIMD23_FAULT_WITHHOLD_VOTES,
                ignoreUserBlocksFrom: split(values.SIMD23_FAULT_IGNORE_USER_BLOCKS_FROM),
                delayUserBlocksFrom: split(values.SIMD23_FAULT_DELAY_USER_BLOCKS_FROM),
                userBlockDelayMs: values.SIMD23_FAULT_USER_BLOCK_DELAY_MS,
              },
            },
          });
          return {
            services: executor.services,
            dependencies: { nats: bus, redis: store },
            hooks: executor.hooks,
            buildInfo: { mode: modeOf(genesis) },
          };
        },
      });
    }
    case "vote-aggregator": {
      const { startVoteAggregator } = await import("@simd23/service-vote-aggregator");
      const config = kit.loadConfig({ env });
      return kit.startService({
        ...common,
        role,
        config,
        build({ config, logger, metrics, health, shutdownSignal }) {
          const genesis = runtime.loadGenesis(config.genesisPath);
          const { bus, store } = connections(config.namespace);
          const aggregator = startVoteAggregator({
            genesis,
            bus,
            store,
            logger,
            metrics,
            health,
            shutdownSignal,
          });
          return {
            services: [aggregator.service],
            dependencies: { nats: bus, redis: store },
            hooks: aggregator.hooks,
            buildInfo: { mode: modeOf(genesis) },
          };
        },
      });
    }
    case "bank-hash-verifier": {
      const { startBankHashVerifier } = await import("@simd23/service-bank-hash-verifier");
      // The verifier's defaults as services/bank-hash-verifier/src/main.ts declares them.
      const config = kit.loadConfig({
        variables: {
          SIMD23_BANK_HASH_VERIFIER_RETAIN_FINALIZED_SLOTS: kit.envVar.integer({ min: 0 }).default(64),
          SIMD23_BANK_HASH_VERIFIER_REPAIR_TIMEOUT_MS: kit.envVar.integer({ min: 1 }).default(2_000),
          SIMD23_BANK_HASH_VERIFIER_REPAIR_BACKOFF_MAX_MS: kit.envVar.integer({ min: 1 }).default(2_000),
        },
        env,
      });
      return kit.startService({
        ...common,
        role,
        config,
        async build({ config, logger, metrics, health }) {
          const genesis = runtime.loadGenesis(config.genesisPath);
          const { bus, store } = connections(config.namespace);
          const verifier = await startBankHashVerifier({
            genesis,
            keypair: runtime.verifierKeypair(genesis, config.clusterSeed),
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
            buildInfo: { mode: modeOf(genesis) },
          };
        },
      });
    }
  }
}

export interface EmbeddedRoleOptions {
  readonly role: Role;
  readonly replica: number;
  /** The role's configuration, as a process would get it in its environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly logDir: string;
  readonly world: EmbeddedWorld;
}

/**
 * One role replica running in this process on the in-process bus and store, with the same
 * surface as a RoleProcess: gRPC and metrics on ports of its own (kept across restarts), its log
 * in <logDir>/<role>-<replica>.log.
 */
export class EmbeddedRole {
  private handle: Handle | undefined;
  private env: Readonly<Record<string, string>>;
  private ports: { grpc: number; metrics: number } | undefined;
  private exit: Promise<number | null> = Promise.resolve(null);
  private finish: ((code: number | null) => void) | undefined;

  private constructor(readonly options: EmbeddedRoleOptions) {
    this.env = options.env;
  }

  static async start(options: EmbeddedRoleOptions): Promise<EmbeddedRole> {
    const role = new EmbeddedRole(options);
    await role.launch();
    return role;
  }

  get name(): string {
    return `${this.options.role}-${this.options.replica}`;
  }

  get grpcAddress(): string {
    return `127.0.0.1:${this.ports?.grpc ?? 0}`;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.ports?.metrics ?? 0}/metrics`;
  }

  get logFile(): string {
    return join(this.options.logDir, `${this.name}.log`);
  }

  /** This process: every embedded role shares it. */
  get pid(): number {
    return process.pid;
  }

  get extraEnv(): Readonly<Record<string, string>> {
    return this.env;
  }

  get running(): boolean {
    return this.handle !== undefined;
  }

  get exited(): Promise<number | null> {
    return this.exit;
  }

  private async launch(): Promise<void> {
    mkdirSync(this.options.logDir, { recursive: true });
    const log = createWriteStream(this.logFile, { flags: "a" });
    const env = {
      ...this.env,
      SIMD23_BUS: "memory",
      SIMD23_STORE: "memory",
      SIMD23_BIND_ADDRESS: "127.0.0.1",
      SIMD23_GRPC_PORT: String(this.ports?.grpc ?? 0),
      SIMD23_METRICS_PORT: String(this.ports?.metrics ?? 0),
      SIMD23_REPLICA_ORDINAL: String(this.options.replica),
    };
    try {
      this.handle = await startEmbeddedService(this.options.role, env, this.options.world, log);
    } catch (error) {
      log.end();
      throw error;
    }
    this.ports = { grpc: this.handle.grpcPort, metrics: this.handle.metricsPort };
    this.exit = new Promise((resolve) => {
      this.finish = (code) => {
        log.end();
        resolve(code);
      };
    });
  }

  /** Polls readiness until it is SERVING; throws with the last status and the log's path on timeout. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    await waitUntilUp(this, timeoutMs, { acceptHalted: false });
  }

  /** The kit's graceful shutdown; resolves 0 when every step finished in time, else 1. */
  async stop(): Promise<number | null> {
    const handle = this.handle;
    if (handle === undefined) return this.exit;
    const report = await handle.shutdown("devnet stopping");
    this.handle = undefined;
    const code = report.completed ? 0 : 1;
    this.finish?.(code);
    return code;
  }

  /** Shuts down and starts again on the same ports; with `env`, that configuration replaces the last one. */
  async restart(env?: Readonly<Record<string, string>>): Promise<void> {
    await this.stop();
    if (env !== undefined) this.env = env;
    await this.launch();
  }
}
