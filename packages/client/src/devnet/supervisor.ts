import { readFileSync, rmSync } from "node:fs";
import { toHex } from "@simd23/core";
import { type Readiness, waitUntilUp } from "../private/health.js";
import { createEmbeddedWorld, EmbeddedRole, type EmbeddedWorld } from "./embedded.js";
import {
  DEVNET_FILE_VERSION,
  type DevnetFile,
  type DevnetProcess,
  isDevnetRunning,
  readDevnetFile,
  writeDevnetFile,
} from "./file.js";
import { type Role, RoleProcess } from "./processes.js";
import type { Backend } from "./servers.js";
import type { DevnetStatusTargets } from "./status-line.js";

/** One role replica of the devnet, as its own process or embedded in this one. */
export type Replica = RoleProcess | EmbeddedRole;

/** How many replicas of each role a devnet runs. */
export interface DevnetSizes {
  /** Executors: one per genesis validator. */
  readonly executors: number;
  /** Leader replicas: one per leader validator (the first `leaders` validators). */
  readonly leaders: number;
  readonly proposers: number;
}

export interface DevnetSpec {
  readonly devnetFilePath: string;
  /** Where the genesis is (absolute). */
  readonly genesisPath: string;
  readonly clusterName: string;
  readonly clusterSeed: Uint8Array;
  readonly namespace: string;
  /** The most proposers the genesis pool allows. */
  readonly proposerPool: number;
  readonly sizes: DevnetSizes;
  readonly backend: Backend;
  readonly logDir: string;
  readonly logLevel: string;
  /** Extra environment of replicas at start, by name (`executor-2`): fault switches. */
  readonly replicaEnv?: Readonly<Record<string, Readonly<Record<string, string>>>>;
}

export interface DevnetEvents {
  /** A replica ended without being asked to; `logTail` is the end of its log. */
  onUnexpectedExit?(
    name: string,
    code: number | null,
    signal: string | null,
    logTail: readonly string[],
  ): void;
}

export interface StopReport {
  /** Every replica's exit code (0: a clean graceful shutdown; null: ended by a signal). */
  readonly exits: readonly { readonly name: string; readonly code: number | null }[];
  /** The servers this devnet had started, with their exit codes. */
  readonly servers: readonly { readonly name: string; readonly code: number | null }[];
  /** Why the namespace's streams and keys could not be removed, if they could not. */
  readonly cleanupError: string | undefined;
}

/** The last `lines` lines of a log, JSON log lines shortened to `level message` and their error. */
export function logTail(path: string, lines = 15): string[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .slice(-lines)
    .map((line) => {
      try {
        const entry = JSON.parse(line) as { level?: unknown; msg?: unknown; err?: { message?: unknown } };
        if (typeof entry.msg !== "string") return line;
        const error = typeof entry.err?.message === "string" ? `: ${entry.err.message}` : "";
        return `${String(entry.level ?? "")} ${entry.msg}${error}`.trim();
      } catch {
        return line;
      }
    });
}

const ROLE_ORDER: readonly Role[] = [
  "leader",
  "executor",
  "bank-hash-verifier",
  "vote-aggregator",
  "proposer",
];

/**
 * Runs a devnet: every role replica as its own process (or embedded), the devnet file that lets
 * the other commands find it, scaling and restarts while it runs, and a clean stop.
 */
export class DevnetSupervisor {
  private readonly replicas = new Map<string, Replica>();
  /** Replicas being stopped or restarted on purpose: their exit is expected. */
  private readonly expectedExits = new Set<string>();
  /** Replicas started (or restarted) and not yet healthy: a failure to boot is reported by bootHealthy. */
  private readonly booting = new Set<string>();
  private stopping = false;
  private fileWritten = false;
  private readonly startedAtMs = Date.now();

  private constructor(
    readonly spec: DevnetSpec,
    private readonly world: EmbeddedWorld | undefined,
    private readonly events: DevnetEvents,
  ) {}

  /** Starts every replica (they boot in parallel) and writes the devnet file. */
  static async start(spec: DevnetSpec, events: DevnetEvents = {}): Promise<DevnetSupervisor> {
    const world = spec.backend.kind === "embedded" ? await createEmbeddedWorld() : undefined;
    const supervisor = new DevnetSupervisor(spec, world, events);
    try {
      const planned: { role: Role; replica: number }[] = [
        ...Array.from({ length: spec.sizes.leaders }, (_, replica) => ({ role: "leader" as const, replica })),
        ...Array.from({ length: spec.sizes.executors }, (_, replica) => ({
          role: "executor" as const,
          replica,
        })),
        { role: "bank-hash-verifier", replica: 0 },
        { role: "vote-aggregator", replica: 0 },
        ...Array.from({ length: spec.sizes.proposers }, (_, replica) => ({
          role: "proposer" as const,
          replica,
        })),
      ];
      await Promise.all(planned.map(({ role, replica }) => supervisor.startReplica(role, replica)));
      supervisor.writeFile();
    } catch (error) {
      await supervisor.stop();
      throw error;
    }
    return supervisor;
  }

  get embedded(): boolean {
    return this.world !== undefined;
  }

  /** The configuration every replica gets, before its own extra variables. */
  private baseEnv(): Record<string, string> {
    const { spec } = this;
    return {
      SIMD23_GENESIS: spec.genesisPath,
      SIMD23_CLUSTER_SEED: toHex(spec.clusterSeed),
      SIMD23_NAMESPACE: spec.namespace,
      SIMD23_BIND_ADDRESS: "127.0.0.1",
      SIMD23_LOG_LEVEL: spec.logLevel,
      ...(spec.backend.kind === "servers"
        ? {
            SIMD23_BUS: "nats",
            SIMD23_NATS_URL: spec.backend.natsUrl,
            SIMD23_STORE: "redis",
            SIMD23_REDIS_URL: spec.backend.redisUrl,
          }
        : {}),
    };
  }

  private async startReplica(
    role: Role,
    replica: number,
    extra?: Readonly<Record<string, string>>,
  ): Promise<Replica> {
    const name = `${role}-${replica}`;
    const env = { ...this.baseEnv(), ...(extra ?? this.spec.replicaEnv?.[name] ?? {}) };
    const options = { role, replica, env, logDir: this.spec.logDir };
    let started: Replica;
    if (this.world !== undefined) {
      started = await EmbeddedRole.start({ ...options, world: this.world });
    } else {
      const child = await RoleProcess.start(options);
      child.onExit((code, signal) => {
        if (this.expectedExits.has(name) || this.booting.has(name) || this.stopping) return;
        if (this.replicas.get(name) !== child) return;
        this.events.onUnexpectedExit?.(name, code, signal, logTail(child.logFile));
      });
      started = child;
    }
    this.booting.add(name);
    this.replicas.set(name, started);
    return started;
  }

  /**
   * Waits until a replica that was just started is healthy (or, with acceptHalted, halted with
   * the cluster). A process that could not bind its
   * ports (another process took one between the free-port probe and its start) is started again
   * on new ones, twice at most; any other failure throws with the end of its log.
   */
  private async bootHealthy(name: string, timeoutMs: number, acceptHalted = false): Promise<Readiness> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1; ; attempt++) {
      const replica = this.replicas.get(name);
      if (replica === undefined) throw new Error(`${name} is not running`);
      try {
        const readiness = await waitUntilUp(replica, Math.max(1_000, deadline - Date.now()), {
          acceptHalted,
        });
        this.booting.delete(name);
        return readiness;
      } catch (error) {
        const tail = logTail(replica.logFile, 10);
        const portTaken = tail.some((line) => line.includes("EADDRINUSE"));
        if (replica instanceof RoleProcess && !replica.running && portTaken && attempt < 3) {
          await this.startReplica(replica.options.role, replica.options.replica, replica.extraEnv);
          if (this.fileWritten) this.writeFile();
          continue;
        }
        this.booting.delete(name);
        throw new Error(`${(error as Error).message}${tail.length > 0 ? `\n  ${tail.join("\n  ")}` : ""}`);
      }
    }
  }

  /** Every replica, leaders first, in role then replica order. */
  list(): Replica[] {
    return [...this.replicas.values()].sort(
      (a, b) =>
        ROLE_ORDER.indexOf(a.options.role) - ROLE_ORDER.indexOf(b.options.role) ||
        a.options.replica - b.options.replica,
    );
  }

  private ofRole(role: Role): Replica[] {
    return this.list().filter((r) => r.options.role === role);
  }

  get(name: string): Replica | undefined {
    return this.replicas.get(name);
  }

  /** The devnet file for the replicas as they are now. */
  file(startedAtMs: number = this.startedAtMs): DevnetFile {
    const { spec, world } = this;
    const entry = (r: Replica): DevnetProcess => ({
      name: r.name,
      address: r.grpcAddress,
      pid: r.pid ?? process.pid,
      metricsUrl: r.metricsUrl,
      logFile: r.logFile,
    });
    return {
      version: DEVNET_FILE_VERSION,
      namespace: spec.namespace,
      clusterName: spec.clusterName,
      clusterSeed: toHex(spec.clusterSeed),
      genesisPath: spec.genesisPath,
      pid: process.pid,
      startedAtMs,
      bus:
        world !== undefined
          ? "embedded"
          : spec.backend.kind === "servers"
            ? spec.backend.natsUrl
            : "embedded",
      store:
        world !== undefined
          ? "embedded"
          : spec.backend.kind === "servers"
            ? spec.backend.redisUrl
            : "embedded",
      proposers: this.ofRole("proposer").map(entry),
      leaders: this.ofRole("leader").map(entry),
      executors: this.ofRole("executor").map(entry),
      voteAggregators: this.ofRole("vote-aggregator").map(entry),
      bankHashVerifiers: this.ofRole("bank-hash-verifier").map(entry),
    };
  }

  /** Writes the devnet file (atomically); called again whenever a replica's pid or the set changes. */
  writeFile(): void {
    writeDevnetFile(this.spec.devnetFilePath, this.file());
    this.fileWritten = true;
  }

  /** The metrics endpoints the status line reads. */
  statusTargets(): DevnetStatusTargets {
    const target = (r: Replica) => ({ name: r.name, metricsUrl: r.metricsUrl });
    const first = (role: Role) => {
      const replica = this.ofRole(role)[0];
      return replica === undefined ? undefined : target(replica);
    };
    return {
      proposers: this.ofRole("proposer").map(target),
      executors: this.ofRole("executor").map(target),
      leaders: this.ofRole("leader").map(target),
      voteAggregator: first("vote-aggregator"),
      bankHashVerifier: first("bank-hash-verifier"),
    };
  }

  /** Waits until every replica's readiness is SERVING; throws naming the first that is not, with its log's tail. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    await Promise.all(this.list().map((replica) => this.bootHealthy(replica.name, timeoutMs)));
  }

  /**
   * Runs `count` proposers: starts the missing ones (next ordinals, each its own pool key) and
   * stops the highest ones gracefully (they leave the schedule and hand their queue on).
   */
  async scaleProposers(
    count: number,
    healthTimeoutMs: number,
  ): Promise<{ added: string[]; removed: { name: string; code: number | null }[] }> {
    if (!Number.isSafeInteger(count) || count < 1 || count > this.spec.proposerPool)
      throw new RangeError(
        `proposers: expected 1 to ${this.spec.proposerPool} (the genesis proposer pool), got ${count}`,
      );
    const current = this.ofRole("proposer");
    const added: string[] = [];
    const removed: { name: string; code: number | null }[] = [];
    if (count > current.length) {
      const used = new Set(current.map((r) => r.options.replica));
      const ordinals: number[] = [];
      for (let i = 0; ordinals.length < count - current.length; i++) if (!used.has(i)) ordinals.push(i);
      const started = await Promise.all(ordinals.map((i) => this.startReplica("proposer", i)));
      this.writeFile();
      await Promise.all(started.map((r) => this.bootHealthy(r.name, healthTimeoutMs)));
      added.push(...started.map((r) => r.name));
    } else {
      const leaving = current.slice(count).reverse();
      for (const replica of leaving) this.expectedExits.add(replica.name);
      const codes = await Promise.all(leaving.map((r) => r.stop()));
      leaving.forEach((replica, i) => {
        this.replicas.delete(replica.name);
        this.expectedExits.delete(replica.name);
        removed.push({ name: replica.name, code: codes[i] ?? null });
      });
      this.writeFile();
    }
    return { added, removed };
  }

  /**
   * Restarts one replica on the same ports with `env` as its extra environment (fault switches;
   * empty clears them) and waits until it is healthy again — or halted: a fault can halt the
   * cluster before the replica has replayed the ledger.
   */
  async restart(
    name: string,
    env: Readonly<Record<string, string>>,
    healthTimeoutMs: number,
  ): Promise<{ code: number | null; readiness: Readiness }> {
    const replica = this.replicas.get(name);
    if (replica === undefined)
      throw new RangeError(
        `no replica named ${name}: the devnet runs ${this.list()
          .map((r) => r.name)
          .join(", ")}`,
      );
    this.expectedExits.add(name);
    let code: number | null;
    try {
      code = replica.running ? await replica.stop() : await replica.exited;
      this.booting.add(name);
      await replica.restart({ ...this.baseEnv(), ...env });
    } finally {
      this.expectedExits.delete(name);
    }
    this.writeFile();
    const readiness = await this.bootHealthy(name, healthTimeoutMs, true);
    return { code, readiness };
  }

  /**
   * The last resort when this process exits without a clean stop (an uncaught error, a second
   * Ctrl-C): SIGKILL to every replica process and server still running, synchronously.
   */
  killEverything(): void {
    for (const replica of this.replicas.values())
      if (replica instanceof RoleProcess && replica.running) void replica.kill();
    if (this.spec.backend.kind === "servers") for (const server of this.spec.backend.started) server.kill();
  }

  /**
   * Stops everything: every replica gets SIGTERM (or its graceful shutdown when embedded) at
   * once; then the namespace's streams and keys are removed, the servers this devnet started are
   * stopped, and the devnet file is removed if it is still this devnet's.
   */
  async stop(): Promise<StopReport> {
    this.stopping = true;
    const replicas = this.list();
    const codes = await Promise.all(replicas.map((r) => r.stop()));
    const exits = replicas.map((r, i) => ({ name: r.name, code: codes[i] ?? null }));
    let cleanupError: string | undefined;
    if (this.spec.backend.kind === "servers") {
      try {
        await removeNamespace(this.spec.backend.natsUrl, this.spec.backend.redisUrl, this.spec.namespace);
      } catch (error) {
        cleanupError = (error as Error).message;
      }
    }
    const servers =
      this.spec.backend.kind === "servers"
        ? await Promise.all(
            this.spec.backend.started.map(async (s) => ({ name: s.name, code: await s.stop() })),
          )
        : [];
    if (this.fileWritten) removeDevnetFileIfOurs(this.spec.devnetFilePath);
    return { exits, servers, cleanupError };
  }
}

/** Deletes a namespace's streams on NATS and its keys on Redis. */
async function removeNamespace(natsUrl: string, redisUrl: string, namespace: string): Promise<void> {
  const [{ connectNatsBus }, { connectRedisStore }] = await Promise.all([
    import("@simd23/bus"),
    import("@simd23/store"),
  ]);
  const bus = await connectNatsBus({ servers: natsUrl, namespace, name: "simd23-devnet-cleanup" });
  try {
    await bus.deleteStreams();
  } finally {
    await bus.close();
  }
  const store = await connectRedisStore({ url: redisUrl, namespace, clientName: "simd23-devnet-cleanup" });
  try {
    await store.clear();
  } finally {
    await store.close();
  }
}

function removeDevnetFileIfOurs(path: string): void {
  try {
    const file = readDevnetFile(path);
    if (file.pid === process.pid || !isDevnetRunning(file)) rmSync(path, { force: true });
  } catch {
    // Absent or unreadable: nothing of ours to remove.
  }
}
