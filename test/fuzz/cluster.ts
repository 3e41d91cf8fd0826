import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Bus, connectNatsBus, createMemoryBus, createMemoryBusServer } from "@simd23/bus";
import {
  createTestnetGenesis,
  deriveKeypair,
  type Genesis,
  genesisToJson,
  KEY_ROLES,
  type Keypair,
  toHex,
} from "@simd23/core";
import { connectRedisStore, createMemoryDatabase } from "@simd23/store";
import { connect, type Simd23Client } from "../../packages/client/src/client.js";
import { EmbeddedRole, type EmbeddedWorld } from "../../packages/client/src/devnet/embedded.js";
import { type Role, RoleProcess } from "../../packages/client/src/devnet/processes.js";
import { checkHealth } from "../../packages/client/src/private/health.js";

// The cluster the fuzz and bad-input tests throw input at: every role, running exactly as the
// devnet runs it — embedded in the test's process on the in-process bus and store (fast, for many
// cases), or each as its own process on the real NATS and Redis (a smaller run) — plus the test's
// own connection to the same bus, to put arbitrary messages on every stream.

export type Backend = "embedded" | "servers";

export type Replica = EmbeddedRole | RoleProcess;

const NATS_URL = process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222";
const REDIS_URL = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";

export const VALIDATORS = 3;
export const PROPOSERS = 2;

export class FuzzCluster {
  private constructor(
    readonly backend: Backend,
    readonly namespace: string,
    readonly seed: Uint8Array,
    readonly genesis: Genesis,
    readonly dir: string,
    readonly replicas: readonly Replica[],
    /** The test's own connection to the cluster's bus. */
    readonly bus: Bus,
    readonly client: Simd23Client,
  ) {}

  static async start(backend: Backend): Promise<FuzzCluster> {
    const namespace = `fuzz-${randomBytes(4).toString("hex")}`;
    const seed = randomBytes(32);
    const genesis = createTestnetGenesis({
      clusterName: namespace,
      clusterSeed: seed,
      startTimeMs: BigInt(Date.now() + 4_000),
      validators: VALIDATORS,
      leaders: 1,
      proposerPool: PROPOSERS + 1,
      timing: {
        slotDurationMs: 400,
        ticksPerSlot: 16,
        hashesPerTick: 2_000,
        proposerHashesPerTick: 200,
        graceTicks: 4,
        slotsPerLeaderWindow: 4,
        membershipDelaySlots: 2,
        proposerEvictionUserBlockSlots: 16,
        maxLockoutHistory: 16,
        slotsPerEpoch: 1_024,
      },
    });
    const dir = mkdtempSync(join(tmpdir(), `simd23-${namespace}-`));
    const genesisPath = join(dir, "genesis.json");
    writeFileSync(genesisPath, genesisToJson(genesis));
    const logDir = join(dir, "logs");
    mkdirSync(logDir, { recursive: true });
    const env: Record<string, string> = {
      SIMD23_GENESIS: genesisPath,
      SIMD23_CLUSTER_SEED: toHex(seed),
      SIMD23_NAMESPACE: namespace,
      SIMD23_BIND_ADDRESS: "127.0.0.1",
      SIMD23_LOG_LEVEL: "info",
      SIMD23_SHUTDOWN_DEADLINE_MS: "5000",
      OTEL_SDK_DISABLED: "true",
      ...(backend === "servers"
        ? {
            SIMD23_BUS: "nats",
            SIMD23_NATS_URL: NATS_URL,
            SIMD23_STORE: "redis",
            SIMD23_REDIS_URL: REDIS_URL,
          }
        : {}),
    };
    const planned: { role: Role; replica: number }[] = [
      { role: "leader", replica: 0 },
      ...Array.from({ length: VALIDATORS }, (_, replica) => ({ role: "executor" as const, replica })),
      { role: "bank-hash-verifier", replica: 0 },
      { role: "vote-aggregator", replica: 0 },
      ...Array.from({ length: PROPOSERS }, (_, replica) => ({ role: "proposer" as const, replica })),
    ];
    let bus: Bus;
    let replicas: Replica[];
    if (backend === "embedded") {
      const world: EmbeddedWorld = { busServer: createMemoryBusServer(), database: createMemoryDatabase() };
      replicas = await Promise.all(planned.map((p) => EmbeddedRole.start({ ...p, env, logDir, world })));
      bus = createMemoryBus({ namespace, server: world.busServer });
    } else {
      replicas = await Promise.all(planned.map((p) => RoleProcess.start({ ...p, env, logDir })));
      bus = await connectNatsBus({ servers: NATS_URL, namespace, name: "fuzz" });
    }
    const cluster = new FuzzCluster(
      backend,
      namespace,
      seed,
      genesis,
      dir,
      replicas,
      bus,
      connect({
        proposers: replicas.filter((r) => r.options.role === "proposer").map((r) => r.grpcAddress),
        executors: replicas.filter((r) => r.options.role === "executor").map((r) => r.grpcAddress),
        leaders: replicas.filter((r) => r.options.role === "leader").map((r) => r.grpcAddress),
        voteAggregator: replicas.find((r) => r.options.role === "vote-aggregator")!.grpcAddress,
        bankHashVerifier: replicas.find((r) => r.options.role === "bank-hash-verifier")!.grpcAddress,
        faucet: deriveKeypair(seed, KEY_ROLES.faucet, 0),
        limits: genesis.limits,
        fees: genesis.fees,
        rpcTimeoutMs: 10_000,
      }),
    );
    try {
      await Promise.all(replicas.map((r) => r.waitHealthy(60_000)));
    } catch (error) {
      await cluster.stop(true);
      throw error;
    }
    return cluster;
  }

  replica(name: string): Replica {
    const found = this.replicas.find((r) => r.name === name);
    if (found === undefined) throw new Error(`no replica ${name}`);
    return found;
  }

  get faucet(): Keypair {
    return deriveKeypair(this.seed, KEY_ROLES.faucet, 0);
  }

  validatorKey(i: number): Keypair {
    return deriveKeypair(this.seed, KEY_ROLES.validator, i);
  }

  proposerKey(i: number): Keypair {
    return deriveKeypair(this.seed, KEY_ROLES.proposer, i);
  }

  verifierKey(): Keypair {
    return deriveKeypair(this.seed, KEY_ROLES.verifier, 0);
  }

  /** The role's log lines, parsed. */
  log(name: string): { msg?: string; [key: string]: unknown }[] {
    let text: string;
    try {
      text = readFileSync(this.replica(name).logFile, "utf8");
    } catch {
      return [];
    }
    return text
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { msg?: string });
  }

  /** Every replica's readiness: SERVING unless something broke it. */
  async health(): Promise<Record<string, string>> {
    const entries = await Promise.all(
      this.replicas.map(async (r) => [r.name, await checkHealth(r.grpcAddress)] as const),
    );
    return Object.fromEntries(entries);
  }

  async stop(keepLogs = process.env.SIMD23_KEEP_E2E_LOGS !== undefined): Promise<void> {
    this.client.close();
    await Promise.all(this.replicas.map((r) => r.stop()));
    if (this.backend === "servers") {
      await this.bus.deleteStreams().catch(() => undefined);
      const store = await connectRedisStore({ url: REDIS_URL, namespace: this.namespace });
      await store.clear();
      await store.close();
    }
    await this.bus.close();
    if (keepLogs) console.log(`fuzz cluster logs: ${join(this.dir, "logs")}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}
