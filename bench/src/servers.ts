import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { sleep } from "./harness.js";

// The bench needs NATS (with JetStream) and Redis. It uses the ones at SIMD23_NATS_URL /
// SIMD23_REDIS_URL (default: the local ports) when they answer; otherwise it starts its own from
// PATH for the run, on free ports, the way .ci/run starts them, and stops them at the end.

export interface ServerInfo {
  readonly url: string;
  /** The server's version, as it reports it. */
  readonly version: string;
  /** Whether this run started the server (and stops it). */
  readonly started: boolean;
}

function hostAndPort(url: string, defaultPort: number): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port: Number(parsed.port || defaultPort) };
}

/** The first line a server sends back after `send` (nothing: the greeting), or undefined. */
function firstLine(url: string, defaultPort: number, send: string | undefined): Promise<string | undefined> {
  const { host, port } = hostAndPort(url, defaultPort);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let received = "";
    const finish = (line: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(line);
    };
    const timer = setTimeout(() => finish(undefined), 1_000);
    socket.once("connect", () => {
      if (send !== undefined) socket.write(send);
    });
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("utf8");
      // Redis answers INFO with a bulk string: a length line, then the text.
      if (send?.startsWith("INFO") ? /redis_version:\S+/.test(received) : received.includes("\r\n"))
        finish(received);
    });
    socket.once("error", () => finish(undefined));
  });
}

/** The version of the NATS server at url when it answers with JetStream; undefined otherwise. */
export async function natsVersion(url: string): Promise<string | undefined> {
  const reply = await firstLine(url, 4222, undefined);
  const info = reply === undefined ? undefined : /^INFO\s+(\{.*\})/.exec(reply)?.[1];
  if (info === undefined) return undefined;
  const parsed = JSON.parse(info) as { version?: string; jetstream?: boolean };
  return parsed.jetstream === true ? (parsed.version ?? "unknown") : undefined;
}

/** The version of the Redis server at url when it answers; undefined otherwise. */
export async function redisVersion(url: string): Promise<string | undefined> {
  const reply = await firstLine(url, 6379, "INFO server\r\n");
  return reply === undefined ? undefined : /redis_version:(\S+)/.exec(reply)?.[1];
}

function findExecutable(name: string): string | undefined {
  for (const folder of (process.env.PATH ?? "").split(delimiter)) {
    if (folder === "") continue;
    try {
      accessSync(join(folder, name), constants.X_OK);
      return join(folder, name);
    } catch {}
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** The servers of one run: found running, or started for it. */
export class BenchServers {
  private constructor(
    readonly nats: ServerInfo | { readonly error: string },
    readonly redis: ServerInfo | { readonly error: string },
    private readonly children: readonly ChildProcess[],
    private readonly dataDir: string | undefined,
  ) {}

  static async prepare(natsUrl: string, redisUrl: string): Promise<BenchServers> {
    const children: ChildProcess[] = [];
    let dataDir: string | undefined;
    const privateDir = () => {
      dataDir ??= mkdtempSync(join(tmpdir(), "simd23-bench-servers-"));
      return dataDir;
    };
    const nats = await BenchServers.find(
      "nats-server",
      natsUrl,
      natsVersion,
      (port) => ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", join(privateDir(), "jetstream")],
      (port) => `nats://127.0.0.1:${port}`,
      children,
    );
    const redis = await BenchServers.find(
      "redis-server",
      redisUrl,
      redisVersion,
      (port) => [
        "--bind",
        "127.0.0.1",
        "--port",
        String(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        privateDir(),
      ],
      (port) => `redis://127.0.0.1:${port}`,
      children,
    );
    return new BenchServers(nats, redis, children, dataDir);
  }

  private static async find(
    executableName: string,
    url: string,
    version: (url: string) => Promise<string | undefined>,
    args: (port: number) => string[],
    urlOf: (port: number) => string,
    children: ChildProcess[],
  ): Promise<ServerInfo | { error: string }> {
    const running = await version(url);
    if (running !== undefined) return { url, version: running, started: false };
    const executable = findExecutable(executableName);
    if (executable === undefined)
      return {
        error: `nothing answers at ${url} and ${executableName} is not on PATH (install it, or start it as .ci/run does)`,
      };
    const port = await freePort();
    const child = spawn(executable, args(port), { stdio: "ignore" });
    children.push(child);
    const ownUrl = urlOf(port);
    for (let attempt = 0; attempt < 50; attempt++) {
      const started = await version(ownUrl);
      if (started !== undefined) return { url: ownUrl, version: started, started: true };
      if (child.exitCode !== null) break;
      await sleep(200);
    }
    return { error: `${executable} did not answer on port ${port}` };
  }

  /** Stops the servers this run started and removes their data. */
  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            // nats-server exits 0 on SIGINT; redis-server shuts down on SIGTERM.
            child.kill(child.spawnfile.endsWith("nats-server") ? "SIGINT" : "SIGTERM");
          }),
      ),
    );
    if (this.dataDir !== undefined) rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** Kills what this run started, synchronously: the last resort when the process is exiting. */
  killNow(): void {
    for (const child of this.children) if (child.exitCode === null) child.kill("SIGKILL");
  }
}
