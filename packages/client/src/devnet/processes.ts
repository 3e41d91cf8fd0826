import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { checkHealth, type HealthStatus, waitUntilUp } from "../private/health.js";
import { freePort } from "./ports.js";

/** The roles, by their folder name under services/. */
export const ROLES = ["proposer", "leader", "executor", "vote-aggregator", "bank-hash-verifier"] as const;
export type Role = (typeof ROLES)[number];

const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

/** The command a container of the role runs (deploy/Dockerfile): `node services/<role>/dist/main.js`. */
export function roleEntryPoint(role: Role, repoRoot = REPO_ROOT): string {
  return join(repoRoot, "services", role, "dist", "main.js");
}

export interface RoleProcessOptions {
  readonly role: Role;
  readonly replica: number;
  /** Environment on top of the parent's; SIMD23_GRPC_PORT, SIMD23_METRICS_PORT and SIMD23_REPLICA_ORDINAL are set here. */
  readonly env: Readonly<Record<string, string>>;
  readonly logDir: string;
}

/**
 * One role replica as its own process, started exactly as a container would
 * start it, with its output in <logDir>/<role>-<replica>.log. Restarting keeps
 * its ports, so its address stays the same (as a StatefulSet pod's does).
 */
export class RoleProcess {
  private child: ChildProcess | undefined;
  private exit: Promise<number | null> = Promise.resolve(null);
  private env: Readonly<Record<string, string>>;
  private readonly exitListeners: ((code: number | null, signal: NodeJS.Signals | null) => void)[] = [];

  private constructor(
    readonly options: RoleProcessOptions,
    readonly grpcPort: number,
    readonly metricsPort: number,
  ) {
    this.env = options.env;
  }

  static async start(options: RoleProcessOptions): Promise<RoleProcess> {
    const roleProcess = new RoleProcess(options, await freePort(), await freePort());
    roleProcess.spawn();
    return roleProcess;
  }

  get name(): string {
    return `${this.options.role}-${this.options.replica}`;
  }

  get grpcAddress(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.metricsPort}/metrics`;
  }

  get logFile(): string {
    return join(this.options.logDir, `${this.name}.log`);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The environment the process runs with on top of the parent's (as given at start, or at the last restart). */
  get extraEnv(): Readonly<Record<string, string>> {
    return this.env;
  }

  /** Calls `listener` every time the process ends, once its log is written (each restart starts a new one). */
  onExit(listener: (code: number | null, signal: NodeJS.Signals | null) => void): void {
    this.exitListeners.push(listener);
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the exit code (null when killed by a signal) once the process ends. */
  get exited(): Promise<number | null> {
    return this.exit;
  }

  private spawn(): void {
    mkdirSync(this.options.logDir, { recursive: true });
    const log = createWriteStream(this.logFile, { flags: "a" });
    // SIMD23_HOME is the CLI's, not a role's: passed on, every role would warn it is unknown.
    const { SIMD23_HOME: _home, ...inherited } = process.env;
    const child = spawn(process.execPath, [roleEntryPoint(this.options.role)], {
      env: {
        ...inherited,
        ...this.env,
        SIMD23_GRPC_PORT: String(this.grpcPort),
        SIMD23_METRICS_PORT: String(this.metricsPort),
        SIMD23_REPLICA_ORDINAL: String(this.options.replica),
        // Proposers register where they answer, for forwarding and repair.
        ...(this.options.role === "proposer" ? { SIMD23_ADVERTISE_ADDRESS: this.grpcAddress } : {}),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    // After "close" both pipes are drained: the log is complete, so its file is closed and
    // exit listeners can read its tail.
    child.once("close", (code, signal) => {
      log.end(() => {
        for (const listener of this.exitListeners) listener(code, signal);
      });
    });
    this.child = child;
    this.exit = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
  }

  /** Polls readiness until it is SERVING; throws with the last status and the log's path on timeout. */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    await waitUntilUp(this, timeoutMs, { acceptHalted: false });
  }

  health(service = ""): Promise<HealthStatus> {
    return checkHealth(this.grpcAddress, service);
  }

  /** Graceful stop (SIGTERM); resolves with the exit code, or kills it after timeoutMs. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (!this.running) return this.exit;
    this.child?.kill("SIGTERM");
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }

  /** kill -9: no shutdown hooks run. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill("SIGKILL");
    await this.exit;
  }

  pause(): void {
    this.child?.kill("SIGSTOP");
  }

  resume(): void {
    this.child?.kill("SIGCONT");
  }

  /**
   * Starts the process again on the same ports after it stopped or was killed (stopping it
   * first if it runs); with `env`, that environment replaces the one it was started with.
   */
  async restart(env?: Readonly<Record<string, string>>): Promise<void> {
    if (this.running) await this.stop();
    if (env !== undefined) this.env = env;
    this.spawn();
  }
}
