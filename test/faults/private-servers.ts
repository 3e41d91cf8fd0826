import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../../packages/client/src/devnet/ports.js";
import { findExecutable, probeNats, probeRedis } from "../../packages/client/src/devnet/servers.js";

// A nats-server or redis-server of the fault suite's own, on a free port of 127.0.0.1 with its data
// in a folder of its own: restarting it (the NATS and Redis schedules) disturbs nothing else on the
// machine. It restarts on the same port with the same data, as a pod with a persistent volume does:
// JetStream's file store, and Redis with its append-only file (the chart turns AOF on).

export type ServerKind = "nats-server" | "redis-server";

export class PrivateServer {
  private child: ChildProcess | undefined;
  private exit: Promise<void> = Promise.resolve();

  private constructor(
    readonly kind: ServerKind,
    private readonly executable: string,
    readonly port: number,
    readonly dir: string,
  ) {}

  /** Starts the server from PATH; throws naming the executable when it is not installed. */
  static async start(kind: ServerKind, dir: string): Promise<PrivateServer> {
    const executable = findExecutable(kind);
    if (executable === undefined)
      throw new Error(`the fault suite needs ${kind} on PATH (Debian: apt-get install ${kind})`);
    const server = new PrivateServer(kind, executable, await freePort(), dir);
    await server.launch();
    return server;
  }

  get url(): string {
    return `${this.kind === "nats-server" ? "nats" : "redis"}://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private args(): string[] {
    return this.kind === "nats-server"
      ? ["-js", "-a", "127.0.0.1", "-p", String(this.port), "-sd", join(this.dir, "jetstream")]
      : [
          "--bind",
          "127.0.0.1",
          "--port",
          String(this.port),
          "--dir",
          this.dir,
          "--save",
          "",
          "--appendonly",
          "yes",
          "--appendfsync",
          "everysec",
        ];
  }

  private async launch(timeoutMs = 15_000): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const log = createWriteStream(join(this.dir, `${this.kind}.log`), { flags: "a" });
    // A process group of its own: a signal meant for the test runner's group never reaches it.
    const child = spawn(this.executable, this.args(), {
      cwd: this.dir,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    this.exit = new Promise((resolve) =>
      child.once("exit", () => {
        log.end();
        resolve();
      }),
    );
    this.child = child;
    const address = { host: "127.0.0.1", port: this.port };
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running)
        throw new Error(`${this.kind} exited at start; see ${join(this.dir, this.kind)}.log`);
      const ready =
        this.kind === "nats-server"
          ? (await probeNats(address, 500)).jetstream
          : await probeRedis(address, 500);
      if (ready) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${this.kind} did not answer on port ${this.port} within ${timeoutMs} ms`);
  }

  /** kill -9: the server gets no chance to flush or say goodbye to its clients. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill("SIGKILL");
    await this.exit;
  }

  /** Starts it again on the same port with the same data. */
  async startAgain(): Promise<void> {
    if (this.running) throw new Error(`${this.kind} is running`);
    await this.launch();
  }

  /** Graceful stop (nats-server on SIGINT, redis-server on SIGTERM), SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child?.kill(this.kind === "nats-server" ? "SIGINT" : "SIGTERM");
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), 5_000);
    await this.exit;
    clearTimeout(timer);
  }
}
