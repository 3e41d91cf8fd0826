import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { connectNatsBus } from "@simd23/bus";
import { type DevnetFile, readDevnetFile } from "@simd23/client";
import { connectRedisStore } from "@simd23/store";
import { sleep, trackChild } from "./harness.js";

// A devnet for the cluster bench, run exactly as a user runs one: `simd23 devnet --json` (every
// role its own process on NATS and Redis) in a home folder of its own, scaled with
// `simd23 devnet scale` over its control socket, stopped with SIGINT. Whatever happens, nothing
// it started is left running and its namespace's streams and keys are removed.

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const CLI = join(REPO, "packages", "client", "dist", "cli", "main.js");
const STOP_TIMEOUT_MS = 60_000;

export type DevnetRole = "proposer" | "leader" | "executor" | "vote-aggregator" | "bank-hash-verifier";

export interface DevnetReplica {
  readonly name: string;
  readonly role: DevnetRole;
  readonly pid: number;
  readonly metricsUrl: string;
}

export interface BenchDevnetOptions {
  readonly mode: "async" | "sync";
  readonly validators: number;
  readonly proposers: number;
  readonly natsUrl: string;
  readonly redisUrl: string;
  readonly log: (line: string) => void;
}

const ROLE_KEYS: readonly (readonly [keyof DevnetFile, DevnetRole])[] = [
  ["proposers", "proposer"],
  ["leaders", "leader"],
  ["executors", "executor"],
  ["voteAggregators", "vote-aggregator"],
  ["bankHashVerifiers", "bank-hash-verifier"],
];

export class BenchDevnet {
  private stopping = false;
  private stopped: Promise<number | null>;
  /** Replicas that exited without being asked to (the devnet's `exit` events). */
  readonly unexpectedExits: string[] = [];
  private cleanupError: string | undefined;
  private current: DevnetFile = emptyFile();
  private ready = Number.NaN;
  /** From the devnet's first event, so a devnet that never became ready is cleaned up too. */
  private namespace = "";

  private constructor(
    readonly options: BenchDevnetOptions,
    readonly home: string,
    private readonly child: ChildProcess,
    private readonly stderrTail: string[],
  ) {
    this.stopped = new Promise((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once("exit", (code) => resolve(code));
    });
  }

  /** Seconds from the devnet's start to `ready`. */
  get readySeconds(): number {
    return this.ready;
  }

  get devnetFilePath(): string {
    return join(this.home, "devnet.json");
  }

  get file(): DevnetFile {
    return this.current;
  }

  /** Starts a devnet and resolves once it printed `ready` (every role healthy, a faucet transfer executed). */
  static async start(options: BenchDevnetOptions, signal: AbortSignal): Promise<BenchDevnet> {
    const home = mkdtempSync(join(tmpdir(), `simd23-bench-${options.mode}-`));
    const args = [
      CLI,
      "devnet",
      "--json",
      "--home",
      home,
      "--mode",
      options.mode,
      "--validators",
      String(options.validators),
      "--proposers",
      String(options.proposers),
      "--nats",
      options.natsUrl,
      "--redis",
      options.redisUrl,
      "--log-level",
      "warn",
      "--ready-timeout",
      "120",
    ];
    const { SIMD23_HOME: _home, ...env } = process.env;
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    // Should the runner exit first, SIGINT makes the devnet stop its roles and remove its namespace.
    trackChild(child, "SIGINT");
    const stderrTail: string[] = [];
    createInterface({ input: child.stderr! }).on("line", (line) => {
      stderrTail.push(line);
      if (stderrTail.length > 40) stderrTail.shift();
    });
    const devnet = new BenchDevnet(options, home, child, stderrTail);
    const events = createInterface({ input: child.stdout! });
    const ready = new Promise<void>((resolve, reject) => {
      events.on("line", (line) => {
        let event: {
          event?: string;
          name?: string;
          code?: number;
          seconds?: number;
          namespace?: string;
          cleanupError?: string;
        };
        try {
          event = JSON.parse(line);
        } catch {
          return;
        }
        if (event.event === "mode") devnet.namespace = event.namespace ?? "";
        else if (event.event === "ready") {
          devnet.current = readDevnetFile(join(home, "devnet.json"));
          devnet.ready = event.seconds ?? Number.NaN;
          resolve();
        } else if (event.event === "exit") {
          devnet.unexpectedExits.push(event.name ?? "?");
          options.log(`devnet (${options.mode}): ${event.name} exited unexpectedly (code ${event.code})`);
        } else if (event.event === "stopping") devnet.stopping = true;
        else if (event.event === "stopped" && event.cleanupError !== undefined)
          devnet.cleanupError = event.cleanupError;
      });
      child.once("exit", (code) =>
        reject(
          new Error(`simd23 devnet exited (code ${code}) before it was ready:\n  ${stderrTail.join("\n  ")}`),
        ),
      );
      signal.addEventListener("abort", () => reject(signal.reason), { once: true });
    });
    try {
      await ready;
      return devnet;
    } catch (error) {
      const problems = await devnet.stop();
      if (problems.length > 0) options.log(`devnet (${options.mode}): ${problems.join("; ")}`);
      throw error;
    }
  }

  /** Every replica with its pid and metrics endpoint, as the devnet file lists them now. */
  replicas(): DevnetReplica[] {
    return ROLE_KEYS.flatMap(([key, role]) =>
      (this.current[key] as DevnetFile["proposers"]).map((p) => ({
        name: p.name,
        role,
        pid: p.pid,
        metricsUrl: p.metricsUrl ?? "",
      })),
    );
  }

  /**
   * Runs `simd23 devnet scale --proposers n` against this devnet and re-reads its file. A new
   * replica that did not report healthy within the command's 30 s (a loaded machine) still runs
   * and is listed: that is returned as a note, and the caller waits for it as for any other.
   */
  async scaleProposers(count: number, signal: AbortSignal): Promise<string | undefined> {
    const scale = spawn(
      process.execPath,
      [CLI, "devnet", "scale", "--proposers", String(count), "--home", this.home, "--json"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    scale.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    scale.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
    });
    const abort = () => scale.kill("SIGTERM");
    signal.addEventListener("abort", abort, { once: true });
    const code = await new Promise<number | null>((resolve) => scale.once("exit", resolve));
    signal.removeEventListener("abort", abort);
    signal.throwIfAborted();
    this.current = readDevnetFile(this.devnetFilePath);
    if (code === 0) return undefined;
    const slowBoot = /not healthy after \d+ ms/.test(output) && this.current.proposers.length === count;
    if (!slowBoot) throw new Error(`simd23 devnet scale --proposers ${count} failed: ${output.trim()}`);
    return `scaling to ${count} proposers: ${output.trim()}`;
  }

  /**
   * Stops the devnet (SIGINT: every role gets SIGTERM, the namespace is removed), SIGKILL after a
   * minute; then makes sure no replica runs and the namespace is gone, and removes the home
   * (kept, with its logs, when something went wrong). Returns what was not clean.
   */
  async stop(): Promise<string[]> {
    const problems: string[] = [];
    const pids = this.replicas().map((r) => r.pid);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      // A Ctrl-C in the terminal reached the devnet too; a second SIGINT would skip its cleanup.
      if (!this.stopping) this.child.kill("SIGINT");
      const timer = setTimeout(() => {
        problems.push(`the devnet did not stop within ${STOP_TIMEOUT_MS / 1000} s: killed`);
        this.child.kill("SIGKILL");
      }, STOP_TIMEOUT_MS);
      await this.stopped;
      clearTimeout(timer);
    }
    const code = await this.stopped;
    if (code !== 0 && code !== null) problems.push(`simd23 devnet exited with code ${code}`);
    for (const pid of pids) {
      if (isAlive(pid)) {
        problems.push(`replica process ${pid} outlived the devnet: killed`);
        process.kill(pid, "SIGKILL");
      }
    }
    if (this.cleanupError !== undefined)
      problems.push(`the devnet's own cleanup failed: ${this.cleanupError}`);
    if (problems.length > 0 && this.namespace !== "") {
      await removeNamespace(this.options.natsUrl, this.options.redisUrl, this.namespace).catch((error) =>
        problems.push(`removing namespace ${this.namespace}: ${(error as Error).message}`),
      );
    }
    if (problems.length === 0 && this.unexpectedExits.length === 0)
      rmSync(this.home, { recursive: true, force: true });
    else problems.push(`logs kept in ${this.home}`);
    return problems;
  }

  /** The end of the devnet's stderr, for error messages. */
  get stderr(): readonly string[] {
    return this.stderrTail;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function emptyFile(): DevnetFile {
  return {
    version: 1,
    namespace: "",
    clusterName: "",
    clusterSeed: "0".repeat(64),
    genesisPath: "",
    pid: 0,
    startedAtMs: 0,
    proposers: [],
    leaders: [],
    executors: [],
    voteAggregators: [],
    bankHashVerifiers: [],
  };
}

/** Deletes a namespace's streams on NATS and its keys on Redis (what the devnet does when it stops cleanly). */
export async function removeNamespace(natsUrl: string, redisUrl: string, namespace: string): Promise<void> {
  const bus = await connectNatsBus({ servers: natsUrl, namespace, name: "simd23-bench-cleanup" });
  try {
    await bus.deleteStreams();
  } finally {
    await bus.close();
  }
  const store = await connectRedisStore({ url: redisUrl, namespace });
  try {
    await store.clear();
  } finally {
    await store.close();
  }
}

/** Waits until `probe` returns a value, polling every 250 ms; throws naming `what` after timeoutMs. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(250, signal);
  }
  throw new Error(
    `${what} not reached within ${timeoutMs} ms${lastError ? ` (last error: ${(lastError as Error).message})` : ""}`,
  );
}
