import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bus, connectNatsBus } from "@simd23/bus";
import { DEVNET_TIMING } from "@simd23/client";
import { ExecutionMode, type Genesis, genesisToJson, type Keypair } from "@simd23/core";
import { genesisFromParams } from "../../packages/client/src/cli/commands/genesis.js";
import { connect, type Simd23Client } from "../../packages/client/src/client.js";
import { loadDevnet } from "../../packages/client/src/devnet/connect.js";
import type { RoleProcess } from "../../packages/client/src/devnet/processes.js";
import { DevnetSupervisor } from "../../packages/client/src/devnet/supervisor.js";
import { PrivateServer } from "./private-servers.js";

// The devnet the fault schedules run against: `simd23 devnet`'s genesis (its timing, 400 ms slots)
// and supervisor, every role as its own process exactly as a container runs it, on a nats-server
// and a redis-server of its own. The supervisor runs in the test's process, so a schedule reaches
// each replica's process directly: kill -9, SIGSTOP/SIGCONT, restart with fault switches.

export interface FaultDevnetOptions {
  readonly validators: number;
  readonly leaders: number;
  readonly proposers: number;
  readonly proposerPool: number;
}

export const DEFAULT_FAULT_DEVNET: FaultDevnetOptions = {
  validators: 4,
  leaders: 1,
  proposers: 3,
  proposerPool: 4,
};

/** Every replica's extra environment besides fault switches: what the checks need to read back. */
const REPLICA_ENV: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  // Every tally stays answerable for the whole run, so the checker can read each slot's agreement.
  "bank-hash-verifier-0": { SIMD23_BANK_HASH_VERIFIER_RETAIN_FINALIZED_SLOTS: "100000" },
};

export class FaultDevnet {
  private constructor(
    readonly home: string,
    readonly namespace: string,
    readonly genesis: Genesis,
    readonly faucet: Keypair,
    readonly nats: PrivateServer,
    readonly redis: PrivateServer,
    readonly supervisor: DevnetSupervisor,
    readonly client: Simd23Client,
    /** The test's own connection to the devnet's NATS, to read what the roles published. */
    readonly bus: Bus,
    /** Replicas that exited without being asked to, with their exit: a crash is a finding. */
    readonly unexpectedExits: string[],
    /** Replicas a schedule killed with SIGKILL, whose exit is expected. */
    private readonly killed: Set<string>,
  ) {}

  static async start(options: FaultDevnetOptions = DEFAULT_FAULT_DEVNET): Promise<FaultDevnet> {
    const home = mkdtempSync(join(tmpdir(), "simd23-faults-"));
    const namespace = `faults-${randomBytes(4).toString("hex")}`;
    const servers: PrivateServer[] = [];
    try {
      const [nats, redis] = await Promise.all([
        PrivateServer.start("nats-server", join(home, "servers", "nats-server")),
        PrivateServer.start("redis-server", join(home, "servers", "redis-server")),
      ]);
      servers.push(nats, redis);
      const clusterSeed = randomBytes(32);
      const genesis = genesisFromParams(
        {
          clusterName: namespace,
          startTimeMs: BigInt(Date.now() + 6_000),
          validators: options.validators,
          leaders: options.leaders,
          proposerPool: options.proposerPool,
          mode: ExecutionMode.EXECUTION_MODE_ASYNC,
          timing: DEVNET_TIMING,
          limits: {},
        },
        clusterSeed,
      );
      const runDir = join(home, "runs", namespace);
      mkdirSync(runDir, { recursive: true });
      const genesisPath = join(runDir, "genesis.json");
      writeFileSync(genesisPath, genesisToJson(genesis));
      const devnetFilePath = join(home, "devnet.json");
      const unexpectedExits: string[] = [];
      const killed = new Set<string>();
      const supervisor = await DevnetSupervisor.start(
        {
          devnetFilePath,
          genesisPath,
          clusterName: namespace,
          clusterSeed,
          namespace,
          proposerPool: options.proposerPool,
          sizes: { executors: options.validators, leaders: options.leaders, proposers: options.proposers },
          backend: {
            kind: "servers",
            natsUrl: nats.url,
            redisUrl: redis.url,
            started: [],
            reason: "the fault suite's private servers",
          },
          logDir: join(runDir, "logs"),
          logLevel: "info",
          replicaEnv: REPLICA_ENV,
        },
        {
          onUnexpectedExit(name, code, signal, tail) {
            // A kill -9 the schedule sent is no crash.
            if (signal === "SIGKILL" && killed.delete(name)) return;
            unexpectedExits.push(`${name} (${signal ?? `code ${code}`}): ${tail.slice(-5).join(" | ")}`);
          },
        },
      );
      await supervisor.waitHealthy(90_000);
      const devnet = loadDevnet(devnetFilePath);
      const client = connect({ ...devnet.options, rpcTimeoutMs: 5_000 });
      const bus = await connectNatsBus({ servers: nats.url, namespace, name: "fault-suite-observer" });
      return new FaultDevnet(
        home,
        namespace,
        genesis,
        devnet.faucet,
        nats,
        redis,
        supervisor,
        client,
        bus,
        unexpectedExits,
        killed,
      );
    } catch (error) {
      await Promise.all(servers.map((server) => server.stop()));
      throw error;
    }
  }

  get logDir(): string {
    return join(this.home, "runs", this.namespace, "logs");
  }

  /** A role process by replica name (`executor-2`). */
  process(name: string): RoleProcess {
    const replica = this.supervisor.get(name);
    if (replica === undefined) throw new Error(`no replica ${name}`);
    return replica as RoleProcess;
  }

  /** kill -9: no shutdown hook runs; the replica stays down until restarted. */
  async kill(name: string): Promise<void> {
    this.killed.add(name);
    await this.process(name).kill();
  }

  /** Restarts a replica (it may have been killed) with these fault switches on top of its usual environment. */
  async restart(name: string, faults: Readonly<Record<string, string>> = {}): Promise<void> {
    await this.supervisor.restart(name, { ...REPLICA_ENV[name], ...faults }, 60_000);
  }

  /** The leader replica producing the current slot, or the first one when none says it leads. */
  async activeLeader(): Promise<string> {
    const statuses = await this.client.getLeaderStatuses();
    const leading = statuses.findIndex((s) => s.ok && s.value.leading);
    return `leader-${Math.max(0, leading)}`;
  }

  /** Stops every role, removes the namespace, stops the private servers, removes the home (unless kept). */
  async stop(keepLogs: boolean): Promise<void> {
    this.client.close();
    await this.bus.close().catch(() => undefined);
    await this.supervisor.stop();
    await Promise.all([this.nats.stop(), this.redis.stop()]);
    if (!keepLogs) rmSync(this.home, { recursive: true, force: true });
  }
}
