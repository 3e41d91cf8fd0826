import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, createWriteStream, mkdirSync } from "node:fs";
import { connect } from "node:net";
import { delimiter, join } from "node:path";
import { freePort } from "./ports.js";

/** Where a server answers: `host` and `port` of a `nats://` or `redis://` URL. */
export interface ServerAddress {
  readonly host: string;
  readonly port: number;
}

export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

const PROBE_TIMEOUT_MS = 1_000;

/** The host and port of a URL; throws a TypeError naming it when it has neither. */
export function serverAddress(url: string, defaultPort: number): ServerAddress {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`"${url}" is not a URL`);
  }
  if (parsed.hostname === "") throw new TypeError(`"${url}" names no host`);
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ""),
    port: parsed.port ? Number(parsed.port) : defaultPort,
  };
}

/** Opens a TCP connection, writes `send` (if any) and resolves with the first bytes received, or undefined. */
function firstReply(
  address: ServerAddress,
  send: string | undefined,
  timeoutMs: number,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: address.host, port: address.port });
    let received = "";
    const finish = (value: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(received || undefined), timeoutMs);
    socket.once("connect", () => {
      if (send !== undefined) socket.write(send);
    });
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("utf8");
      if (received.includes("\r\n")) finish(received);
    });
    socket.once("error", () => finish(undefined));
    socket.once("close", () => finish(received || undefined));
  });
}

/** What a NATS probe found: whether a server answered and whether it has JetStream. */
export interface NatsProbe {
  readonly answers: boolean;
  readonly jetstream: boolean;
}

/** Whether a NATS server answers at the address, and with JetStream (its INFO line says). */
export async function probeNats(address: ServerAddress, timeoutMs = PROBE_TIMEOUT_MS): Promise<NatsProbe> {
  const reply = await firstReply(address, undefined, timeoutMs);
  const info = reply === undefined ? undefined : /^INFO\s+(\{.*\})/.exec(reply)?.[1];
  if (info === undefined) return { answers: false, jetstream: false };
  try {
    return { answers: true, jetstream: (JSON.parse(info) as { jetstream?: unknown }).jetstream === true };
  } catch {
    return { answers: true, jetstream: false };
  }
}

/** Whether a Redis server answers PING at the address (a server that wants a password counts as not usable). */
export async function probeRedis(address: ServerAddress, timeoutMs = PROBE_TIMEOUT_MS): Promise<boolean> {
  const reply = await firstReply(address, "PING\r\n", timeoutMs);
  return reply?.startsWith("+PONG") === true;
}

/** The path of an executable found on PATH, or undefined. */
export function findExecutable(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const folder of path.split(delimiter)) {
    if (folder === "") continue;
    const candidate = join(folder, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}

/** A NATS or Redis server the devnet started, in a folder of its own under the devnet home. */
export class LocalServer {
  private readonly exit: Promise<number | null>;

  private constructor(
    readonly name: "nats-server" | "redis-server",
    readonly url: string,
    readonly logFile: string,
    private readonly child: ChildProcess,
  ) {
    this.exit = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
      else child.once("exit", (code) => resolve(code));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get exited(): Promise<number | null> {
    return this.exit;
  }

  /**
   * Starts `nats-server -js` (file store under `<dir>/jetstream`) or `redis-server` (no
   * persistence) on a free port of 127.0.0.1 and waits until it answers.
   */
  static async start(
    name: "nats-server" | "redis-server",
    executable: string,
    dir: string,
    timeoutMs = 10_000,
  ): Promise<LocalServer> {
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const args =
      name === "nats-server"
        ? ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", join(dir, "jetstream")]
        : ["--bind", "127.0.0.1", "--port", String(port), "--dir", dir, "--save", "", "--appendonly", "no"];
    const logFile = join(dir, `${name}.log`);
    const log = createWriteStream(logFile, { flags: "a" });
    // A process group of its own: Ctrl-C in the terminal reaches the devnet and its roles, and
    // the server must outlive the roles' shutdown (they drain into it) until the devnet stops it.
    const child = spawn(executable, args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"], detached: true });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.once("exit", () => log.end());
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once("spawn", () => resolve(undefined));
      child.once("error", (error) => resolve(error));
    });
    const url = `${name === "nats-server" ? "nats" : "redis"}://127.0.0.1:${port}`;
    const server = new LocalServer(name, url, logFile, child);
    if (spawned !== undefined) throw new Error(`cannot start ${executable}: ${spawned.message}`);
    const address = { host: "127.0.0.1", port };
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!server.running)
        throw new Error(`${name} exited at start (code ${child.exitCode}); see ${logFile}`);
      const ready =
        name === "nats-server" ? (await probeNats(address, 500)).jetstream : await probeRedis(address, 500);
      if (ready) return server;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await server.stop();
    throw new Error(`${name} did not answer on port ${port} within ${timeoutMs} ms; see ${logFile}`);
  }

  /** SIGKILL, without waiting: for a devnet process that is exiting anyway. */
  kill(): void {
    if (this.running) this.child.kill("SIGKILL");
  }

  /**
   * Shuts the server down (nats-server on SIGINT, which it answers with exit 0 — SIGTERM makes
   * it exit 1 —, redis-server on SIGTERM), then SIGKILL after timeoutMs; resolves with the exit code.
   */
  async stop(timeoutMs = 5_000): Promise<number | null> {
    if (!this.running) return this.exit;
    this.child.kill(this.name === "nats-server" ? "SIGINT" : "SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const code = await this.exit;
    clearTimeout(timer);
    return code;
  }
}

/** Where the roles' bus and store are, and why the devnet chose that. */
export type Backend =
  | {
      readonly kind: "servers";
      readonly natsUrl: string;
      readonly redisUrl: string;
      /** The servers this devnet started (stopped with it). */
      readonly started: readonly LocalServer[];
      readonly reason: string;
    }
  | { readonly kind: "embedded"; readonly reason: string };

export interface ChooseBackendOptions {
  /** Run embedded whatever answers. */
  readonly embedded: boolean;
  readonly natsUrl: string;
  readonly redisUrl: string;
  /** The folder servers started from PATH keep their data and logs in. */
  readonly serverDir: string;
  readonly path?: string;
}

type Found =
  | { readonly kind: "running"; readonly url: string; readonly note: string }
  | { readonly kind: "start"; readonly executable: string; readonly note: string }
  | { readonly kind: "missing"; readonly note: string };

async function findNats(url: string, path: string | undefined): Promise<Found> {
  const probe = await probeNats(serverAddress(url, 4222));
  if (probe.jetstream) return { kind: "running", url, note: `NATS with JetStream answers at ${url}` };
  const why = probe.answers ? `NATS at ${url} has no JetStream` : `no NATS answers at ${url}`;
  const executable = findExecutable("nats-server", path);
  return executable === undefined
    ? { kind: "missing", note: `${why} and nats-server is not on PATH` }
    : { kind: "start", executable, note: `${why}: started ${executable} -js` };
}

async function findRedis(url: string, path: string | undefined): Promise<Found> {
  if (await probeRedis(serverAddress(url, 6379)))
    return { kind: "running", url, note: `Redis answers at ${url}` };
  const executable = findExecutable("redis-server", path);
  return executable === undefined
    ? { kind: "missing", note: `no Redis answers at ${url} and redis-server is not on PATH` }
    : { kind: "start", executable, note: `no Redis answers at ${url}: started ${executable}` };
}

/**
 * The bus and store the devnet's roles use: NATS and Redis when they answer, else started from
 * PATH, else (or when asked) embedded: every role in this process on the in-process bus and store.
 */
export async function chooseBackend(options: ChooseBackendOptions): Promise<Backend> {
  if (options.embedded)
    return {
      kind: "embedded",
      reason: "--embedded: every role runs in this process on the in-process bus and store",
    };
  const [nats, redis] = await Promise.all([
    findNats(options.natsUrl, options.path),
    findRedis(options.redisUrl, options.path),
  ]);
  const missing = [nats, redis].filter((found) => found.kind === "missing");
  if (missing.length > 0)
    return {
      kind: "embedded",
      reason: `${missing.map((found) => found.note).join("; ")}: every role runs in this process on the in-process bus and store`,
    };
  const started: LocalServer[] = [];
  try {
    const urlOf = async (found: Found, name: "nats-server" | "redis-server"): Promise<string> => {
      if (found.kind === "running") return found.url;
      if (found.kind !== "start") throw new Error("unreachable");
      const server = await LocalServer.start(name, found.executable, join(options.serverDir, name));
      started.push(server);
      return server.url;
    };
    const natsUrl = await urlOf(nats, "nats-server");
    const redisUrl = await urlOf(redis, "redis-server");
    return {
      kind: "servers",
      natsUrl,
      redisUrl,
      started,
      reason: `${nats.note}${nats.kind === "start" ? ` (${natsUrl})` : ""}; ${redis.note}${redis.kind === "start" ? ` (${redisUrl})` : ""}`,
    };
  } catch (error) {
    await Promise.all(started.map((server) => server.stop()));
    throw error;
  }
}
