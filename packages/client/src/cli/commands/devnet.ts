import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ExecutionMode, genesisToJson, slotAt, type Timing } from "@simd23/core";
import type { Command } from "commander";
import { connect } from "../../client.js";
import { loadDevnet } from "../../devnet/connect.js";
import { ControlError, controlRequest, controlSocketPath, startControlServer } from "../../devnet/control.js";
import { isDevnetRunning, readDevnetFile, simd23Home } from "../../devnet/file.js";
import { chooseBackend, DEFAULT_NATS_URL, DEFAULT_REDIS_URL, serverAddress } from "../../devnet/servers.js";
import { DevnetStatusSampler, formatStatusLine, statusJson } from "../../devnet/status-line.js";
import { DevnetSupervisor, type StopReport } from "../../devnet/supervisor.js";
import { DEVNET_TIMING } from "../../devnet/timing.js";
import { generateKeypair } from "../../keys.js";
import { CliError } from "../errors.js";
import { printJson, printLine } from "../format.js";
import { argParser, collect, parseCount, parsePositiveNumber } from "../input.js";
import { type GenesisParams, genesisFromParams } from "./genesis.js";

/** Seconds between writing the genesis and its slot 0: the roles boot (and replay nothing) in it. */
const DEFAULT_START_DELAY_S = 5;
const HOME_RUNS_KEPT = 5;
const MAX_VALIDATORS = 32;
const MAX_PROPOSER_POOL = 64;
const TTY_REFRESH_MS = 1_000;
const PLAIN_REFRESH_MS = 5_000;

/** Faults by name: the role they apply to and the environment that switches them on. */
export const FAULTS: Readonly<
  Record<
    string,
    {
      readonly role: "executor" | "proposer";
      readonly describe: string;
      readonly env: (timing: Timing, nowMs: number) => Record<string, string>;
    }
  >
> = {
  "wrong-bank-hash": {
    role: "executor",
    describe:
      "compute a wrong BankHash from a few slots ahead (the verifier reports it; > 1/3 of stake halts)",
    env: (timing, nowMs) => ({
      SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT: String(Math.max(1, slotAt(timing, nowMs) + 10)),
    }),
  },
  "withhold-votes": {
    role: "executor",
    describe: "replay and execute but publish no votes",
    env: () => ({ SIMD23_FAULT_WITHHOLD_VOTES: "true" }),
  },
  "withhold-blocks": {
    role: "proposer",
    describe: "build and sign UserBlocks but never publish them",
    env: () => ({ SIMD23_FAULT_WITHHOLD_BLOCKS: "true" }),
  },
  equivocate: {
    role: "proposer",
    describe: "publish two different UserBlocks for every scheduled UserBlockSlot",
    env: () => ({ SIMD23_FAULT_EQUIVOCATE: "true" }),
  },
};

interface DevnetFlags {
  readonly validators: number;
  readonly proposers: number;
  readonly leaders: number;
  readonly proposerPool: number;
  readonly slotMs: number;
  readonly ticksPerSlot: number;
  readonly hashesPerTick: number;
  readonly graceTicks: number;
  readonly mode: string;
  readonly embedded?: boolean;
  readonly home?: string;
  readonly nats: string;
  readonly redis: string;
  readonly fault?: readonly string[];
  readonly logLevel: string;
  readonly readyTimeout: number;
  readonly startDelay: number;
  readonly json?: boolean;
}

function within(value: number, min: number, max: number, flag: string): number {
  if (value < min || value > max) throw new CliError(`${flag}: expected ${min} to ${max}, got ${value}`);
  return value;
}

/** The devnet home: --home, else $SIMD23_HOME, else .devnet in the repository; created and checked writable. */
export function prepareHome(home: string): string {
  const path = resolve(home);
  try {
    mkdirSync(path, { recursive: true });
    if (!statSync(path).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    accessSync(path, constants.W_OK);
    const probe = join(path, `.write-test-${process.pid}`);
    writeFileSync(probe, "");
    rmSync(probe);
  } catch (error) {
    throw new CliError(
      `--home: cannot write to ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  return path;
}

/** A `<replica>=<fault>` flag: which replica gets which fault switched on at start. */
export function parseFaultFlag(text: string): { replica: string; fault: string } {
  const match = /^((executor|proposer)-\d+)=([a-z-]+)$/.exec(text);
  if (match === null)
    throw new CliError(
      `--fault: expected <replica>=<fault> such as executor-3=wrong-bank-hash, got "${text}"`,
    );
  const replica = match[1]!;
  const fault = match[3]!;
  checkFault(replica, fault, "--fault");
  return { replica, fault };
}

function checkFault(replica: string, fault: string, flag: string): void {
  const known = FAULTS[fault];
  if (known === undefined)
    throw new CliError(`${flag}: unknown fault "${fault}" (known: ${Object.keys(FAULTS).join(", ")})`);
  if (!replica.startsWith(`${known.role}-`))
    throw new CliError(`${flag}: the ${fault} fault applies to ${known.role}s, not ${replica}`);
}

/** A `KEY=VALUE` flag for a role's environment. */
export function parseEnvFlag(text: string): [string, string] {
  const match = /^(SIMD23_[A-Z0-9_]+)=(.*)$/.exec(text);
  if (match === null) throw new CliError(`--env: expected SIMD23_NAME=value, got "${text}"`);
  return [match[1]!, match[2]!];
}

/** Removes all but the newest run folders of a home (each run keeps its genesis and logs). */
function pruneRuns(home: string, keep: number): void {
  const runs = join(home, "runs");
  let names: string[];
  try {
    names = readdirSync(runs);
  } catch {
    return;
  }
  const byAge = names
    .map((name) => ({ name, mtime: statSync(join(runs, name)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const run of byAge.slice(keep)) rmSync(join(runs, run.name), { recursive: true, force: true });
}

function endpointLines(supervisor: DevnetSupervisor): string[] {
  const file = supervisor.file();
  const group = (label: string, list: readonly { name: string; address: string }[]) =>
    `  ${label.padEnd(19)} ${list.map((p) => `${p.name} ${p.address}`).join("   ")}`;
  return [
    group("proposers", file.proposers),
    group("leaders", file.leaders),
    group("executors", file.executors),
    group("vote aggregator", file.voteAggregators),
    group("bank-hash verifier", file.bankHashVerifiers),
    `  ${"metrics".padEnd(19)} ${supervisor
      .list()
      .map((r) => `${r.name} ${r.metricsUrl}`)
      .join("   ")}`,
    `  ${"logs".padEnd(19)} ${supervisor.spec.logDir}`,
    `  ${"devnet file".padEnd(19)} ${supervisor.spec.devnetFilePath}`,
  ];
}

/** Sends a transfer from the faucet until one reaches `executed`, retrying while proposers join the schedule. */
async function firstTransfer(
  devnetFilePath: string,
  deadlineMs: number,
): Promise<{ signature: string; ms: number }> {
  const devnet = loadDevnet(devnetFilePath);
  const client = connect({ ...devnet.options, rpcTimeoutMs: 3_000 });
  const started = Date.now();
  let lastError: unknown;
  try {
    while (Date.now() < deadlineMs) {
      try {
        const sent = await client.transfer({
          from: devnet.faucet,
          to: generateKeypair().publicKey,
          lamports: 1,
        });
        const status = await client.confirm(sent.signature, "executed", {
          timeoutMs: Math.max(1_000, deadlineMs - Date.now()),
        });
        if (status.result !== null && !status.result.ok)
          throw new Error(`the first transfer executed with ${status.result.status}`);
        return { signature: sent.signature, ms: Date.now() - started };
      } catch (error) {
        lastError = error;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  } finally {
    client.close();
  }
  throw new Error(
    `no transfer from the faucet reached executed: ${(lastError as Error)?.message ?? "timed out"}`,
  );
}

function describeStop(report: StopReport): string[] {
  const lines = [
    `stopped: ${report.exits.map((e) => `${e.name} exit ${e.code === null ? "by signal" : e.code}`).join(", ")}`,
  ];
  if (report.servers.length > 0)
    lines.push(
      `stopped the servers it started: ${report.servers.map((s) => `${s.name} exit ${s.code}`).join(", ")}`,
    );
  if (report.cleanupError !== undefined)
    lines.push(`could not remove the devnet's streams and keys: ${report.cleanupError}`);
  return lines;
}

async function runDevnet(flags: DevnetFlags): Promise<void> {
  const startedMs = Date.now();
  const validators = within(flags.validators, 1, MAX_VALIDATORS, "--validators");
  const leaders = within(flags.leaders, 1, validators, "--leaders");
  const proposerPool = within(flags.proposerPool, 1, MAX_PROPOSER_POOL, "--proposer-pool");
  const proposers = within(flags.proposers, 1, proposerPool, "--proposers");
  const slotMs = within(flags.slotMs, 20, 60_000, "--slot-ms");
  const ticksPerSlot = within(flags.ticksPerSlot, 2, 1_024, "--ticks-per-slot");
  if (ticksPerSlot % 2 !== 0)
    throw new CliError(
      `--ticks-per-slot: expected an even number (a UserBlockSlot is half a slot), got ${ticksPerSlot}`,
    );
  const hashesPerTick = within(flags.hashesPerTick, 10, 10_000_000, "--hashes-per-tick");
  const graceTicks = within(flags.graceTicks, 0, ticksPerSlot / 2 - 1, "--grace-ticks");
  if (flags.mode !== "async" && flags.mode !== "sync")
    throw new CliError(`--mode: expected "async" or "sync", got "${flags.mode}"`);
  const readyTimeoutMs = Math.round(flags.readyTimeout * 1_000);
  for (const [flag, url, port] of [
    ["--nats", flags.nats, 4222],
    ["--redis", flags.redis, 6379],
  ] as const) {
    try {
      serverAddress(url, port);
    } catch (error) {
      throw new CliError(`${flag}: ${(error as Error).message}`);
    }
  }
  const faults = (flags.fault ?? []).map(parseFaultFlag);
  const home = prepareHome(flags.home ?? simd23Home());
  const devnetFilePath = join(home, "devnet.json");
  try {
    const existing = readDevnetFile(devnetFilePath);
    if (isDevnetRunning(existing))
      throw new CliError(
        `a devnet is already running with this home (process ${existing.pid}, namespace ${existing.namespace}): stop it with Ctrl-C, or start another with --home`,
        1,
      );
  } catch (error) {
    if (error instanceof CliError) throw error;
  }
  const json = flags.json === true;
  // After a hangup the terminal is gone: writing to it would fail, so the devnet stops quietly.
  let silent = false;
  const say = (line: string, event?: Record<string, unknown>) => {
    if (silent) return;
    if (json) {
      if (event !== undefined) printJson(event);
    } else if (line !== "") printLine(line);
  };

  const clusterSeed = randomBytes(32);
  const namespace = `devnet-${randomBytes(4).toString("hex")}`;
  const runDir = join(home, "runs", namespace);
  pruneRuns(home, HOME_RUNS_KEPT - 1);
  mkdirSync(runDir, { recursive: true });

  const backend = await chooseBackend({
    embedded: flags.embedded === true,
    natsUrl: flags.nats,
    redisUrl: flags.redis,
    serverDir: join(runDir, "servers"),
  });
  const modeText =
    backend.kind === "servers"
      ? `every role as its own process on NATS ${backend.natsUrl} and Redis ${backend.redisUrl}`
      : "embedded: every role in this process on the in-process bus and store";
  say(`devnet ${namespace}: ${modeText} (${backend.reason})`, {
    event: "mode",
    namespace,
    mode: backend.kind === "servers" ? "processes" : "embedded",
    reason: backend.reason,
    ...(backend.kind === "servers" ? { nats: backend.natsUrl, redis: backend.redisUrl } : {}),
  });

  const params: GenesisParams = {
    clusterName: namespace,
    startTimeMs: BigInt(Date.now() + Math.round(flags.startDelay * 1_000)),
    validators,
    leaders,
    proposerPool,
    mode: flags.mode === "sync" ? ExecutionMode.EXECUTION_MODE_SYNC : ExecutionMode.EXECUTION_MODE_ASYNC,
    timing: {
      ...DEVNET_TIMING,
      slotDurationMs: slotMs,
      ticksPerSlot,
      hashesPerTick,
      proposerHashesPerTick: Math.max(1, Math.round(hashesPerTick / 10)),
      graceTicks,
    },
    limits: {},
  };
  let genesis: ReturnType<typeof genesisFromParams>;
  try {
    genesis = genesisFromParams(params, clusterSeed);
  } catch (error) {
    await Promise.all(backend.kind === "servers" ? backend.started.map((s) => s.stop()) : []);
    throw error;
  }
  const genesisPath = join(runDir, "genesis.json");
  writeFileSync(genesisPath, genesisToJson(genesis));

  const replicaEnv: Record<string, Record<string, string>> = {};
  for (const { replica, fault } of faults) {
    replicaEnv[replica] = { ...replicaEnv[replica], ...FAULTS[fault]!.env(genesis.timing, Date.now()) };
    say(`fault: ${replica} starts with ${fault}`, {
      event: "fault",
      replica,
      fault,
      env: replicaEnv[replica],
    });
  }

  let unexpected = 0;
  const supervisor = await DevnetSupervisor.start(
    {
      devnetFilePath,
      genesisPath,
      clusterName: namespace,
      clusterSeed,
      namespace,
      proposerPool,
      sizes: { executors: validators, leaders, proposers },
      backend,
      logDir: join(runDir, "logs"),
      logLevel: flags.logLevel,
      replicaEnv,
    },
    {
      onUnexpectedExit(name, code, signal, tail) {
        unexpected++;
        if (silent) return;
        clearStatus();
        if (json) printJson({ event: "exit", name, code, signal, logTail: tail });
        else {
          process.stderr.write(
            `${name} exited unexpectedly (${signal === null ? `code ${code}` : `signal ${signal}`}); the end of its log:\n${tail.map((l) => `  ${l}`).join("\n")}\n(restart it with \`simd23 devnet restart ${name}\`)\n`,
          );
        }
      },
    },
  );

  const tty = process.stdout.isTTY === true && !json;
  let statusShown = false;
  function clearStatus(): void {
    if (tty && statusShown && !silent) {
      process.stdout.write("\r\x1b[2K");
      statusShown = false;
    }
  }

  let shuttingDown: Promise<void> | undefined;
  let statusTimer: NodeJS.Timeout | undefined;
  let control: { close(): Promise<void> } | undefined;
  const shutdown = (why: string, exitCode: number): Promise<void> => {
    shuttingDown ??= (async () => {
      if (statusTimer !== undefined) clearInterval(statusTimer);
      clearStatus();
      say(
        `stopping (${why}): ${supervisor.embedded ? "shutting every role down" : "SIGTERM to every role"}`,
        { event: "stopping", reason: why },
      );
      await control?.close();
      const report = await supervisor.stop();
      for (const line of describeStop(report)) say(line);
      say("", { event: "stopped", ...report });
      const clean = report.exits.every((e) => e.code === 0) && report.cleanupError === undefined;
      process.exitCode = exitCode !== 0 ? exitCode : clean && unexpected === 0 ? 0 : 1;
    })();
    return shuttingDown;
  };
  // However this process ends, no role or server it started outlives it.
  process.once("exit", () => supervisor.killEverything());
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === "SIGHUP") silent = true;
    else signals++;
    // A second Ctrl-C: no waiting for graceful shutdowns (the exit hook kills what runs).
    if (signals > 1) process.exit(130);
    void shutdown(signal, 0);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  // A closed terminal: its roles get the hangup too; stop them all the same way.
  process.on("SIGHUP", onSignal);

  try {
    control = await startControlServer(controlSocketPath(home), {
      ps: async () => ({
        replicas: supervisor.list().map((r) => ({
          name: r.name,
          pid: r.pid ?? null,
          running: r.running,
          address: r.grpcAddress,
          env: Object.fromEntries(
            Object.entries(r.extraEnv).filter(([key]) => key.startsWith("SIMD23_FAULT_")),
          ),
        })),
      }),
      scale: async (body) => {
        const count = (body as { proposers?: unknown }).proposers;
        if (typeof count !== "number") throw new ControlError('scale: expected {"proposers": n}');
        try {
          const result = await supervisor.scaleProposers(count, 30_000);
          if (result.added.length > 0) clearStatus();
          for (const name of result.added) say(`${name} started (scale)`, { event: "scaled", started: name });
          for (const r of result.removed)
            say(`${r.name} stopped (scale), exit ${r.code}`, {
              event: "scaled",
              stopped: r.name,
              code: r.code,
            });
          return result;
        } catch (error) {
          if (error instanceof RangeError) throw new ControlError(error.message);
          throw error;
        }
      },
      restart: async (body) => {
        const { name, env } = body as { name?: unknown; env?: unknown };
        if (typeof name !== "string" || typeof env !== "object" || env === null)
          throw new ControlError('restart: expected {"name": replica, "env": {…}}');
        try {
          clearStatus();
          const result = await supervisor.restart(name, env as Record<string, string>, 30_000);
          say(
            `${name} restarted (previous exit ${result.code})${
              Object.keys(env).length > 0
                ? ` with ${Object.entries(env)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(" ")}`
                : ""
            }${result.readiness === "halted" ? "; it halted with the cluster" : ""}`,
            { event: "restarted", name, code: result.code, env, readiness: result.readiness },
          );
          return result;
        } catch (error) {
          if (error instanceof RangeError) throw new ControlError(error.message, 404);
          throw error;
        }
      },
    });

    const deadline = startedMs + readyTimeoutMs;
    await supervisor.waitHealthy(Math.max(1_000, deadline - Date.now()));
    const healthyMs = Date.now() - startedMs;
    const transfer = await firstTransfer(devnetFilePath, deadline);
    const readyMs = Date.now() - startedMs;
    if (json)
      printJson({
        event: "ready",
        seconds: readyMs / 1_000,
        healthySeconds: healthyMs / 1_000,
        firstTransfer: transfer,
        devnetFile: devnetFilePath,
        logs: supervisor.spec.logDir,
        ...supervisor.file(),
        clusterSeed: undefined,
      });
    else {
      printLine(
        `devnet ready in ${(readyMs / 1_000).toFixed(1)} s (roles healthy after ${(healthyMs / 1_000).toFixed(1)} s; a faucet transfer executed in ${(transfer.ms / 1_000).toFixed(1)} s)`,
      );
      for (const line of endpointLines(supervisor)) printLine(line);
      printLine(
        "next, in another terminal: pnpm -s simd23 watch · pnpm -s simd23 keygen · pnpm -s simd23 transfer --to <pubkey> --amount 1000 · pnpm -s simd23 devnet scale --proposers 4 — Ctrl-C here stops the devnet",
      );
    }
  } catch (error) {
    await shutdown("not ready", 1);
    throw error;
  }

  const sampler = new DevnetStatusSampler(() => supervisor.statusTargets());
  let sampling = false;
  const refresh = async () => {
    if (sampling || shuttingDown !== undefined) return;
    sampling = true;
    try {
      const status = await sampler.sample();
      if (shuttingDown !== undefined || silent) return;
      if (json) printJson({ event: "status", ...statusJson(status) });
      else if (tty) {
        process.stdout.write(
          `\r\x1b[2K${formatStatusLine(status).slice(0, Math.max(20, (process.stdout.columns || 200) - 1))}`,
        );
        statusShown = true;
      } else printLine(formatStatusLine(status));
    } finally {
      sampling = false;
    }
  };
  await refresh();
  statusTimer = setInterval(() => void refresh(), tty ? TTY_REFRESH_MS : PLAIN_REFRESH_MS);
  await new Promise<void>((resolveWait) => {
    const wait = setInterval(() => {
      if (shuttingDown !== undefined) {
        clearInterval(wait);
        shuttingDown.then(resolveWait, resolveWait);
      }
    }, 100);
  });
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  process.off("SIGHUP", onSignal);
  // Everything is stopped; a stray handle (a gRPC channel closing) must not hold the exit.
  setTimeout(() => process.exit(), 2_000).unref();
}

interface ControlFlags {
  readonly home?: string;
  readonly json?: boolean;
}

function socketOf(flags: ControlFlags): { socket: string; devnetFilePath: string } {
  const home = resolve(flags.home ?? simd23Home());
  const devnetFilePath = join(home, "devnet.json");
  // Fails with a one-line DevnetFileError when no devnet runs there.
  const file = readDevnetFile(devnetFilePath);
  if (!isDevnetRunning(file))
    throw new CliError(
      `the devnet in ${home} is not running (process ${file.pid} has exited): start one with \`pnpm devnet\``,
      1,
    );
  return { socket: controlSocketPath(home), devnetFilePath };
}

async function control(
  flags: ControlFlags,
  command: string,
  body: unknown,
  timeoutMs = 60_000,
): Promise<unknown> {
  const { socket } = socketOf(flags);
  try {
    return await controlRequest(socket, command, body, timeoutMs);
  } catch (error) {
    throw new CliError(
      (error as Error).message,
      error instanceof ControlError && error.statusCode < 500 ? 2 : 1,
    );
  }
}

export function registerDevnetCommand(program: Command): void {
  const devnet = program
    .command("devnet")
    .description(
      "a local testnet: `simd23 devnet` starts one (see `simd23 devnet start --help`); scale, restart and ps act on the running one",
    );
  devnet
    .command("start", { isDefault: true })
    .description(
      "start a local testnet: a fresh genesis and every role (executors, proposers, leaders, the vote aggregator, the bank-hash verifier) as its own process on the local NATS and Redis (started from PATH when installed but not running; embedded in this process otherwise); prints `devnet ready` and a live status line; Ctrl-C stops it",
    )
    .option(
      "--validators <n>",
      `validators, one executor each (1 to ${MAX_VALIDATORS})`,
      argParser(parseCount, "--validators"),
      4,
    )
    .option(
      "--proposers <n>",
      "proposers to run (1 to the proposer pool)",
      argParser(parseCount, "--proposers"),
      3,
    )
    .option(
      "--leaders <n>",
      "validators that run a leader (1 to --validators)",
      argParser(parseCount, "--leaders"),
      1,
    )
    .option(
      "--proposer-pool <n>",
      `proposer keys in the genesis: the most proposers \`devnet scale\` can run (1 to ${MAX_PROPOSER_POOL})`,
      argParser(parseCount, "--proposer-pool"),
      16,
    )
    .option(
      "--slot-ms <ms>",
      "slot duration",
      argParser(parseCount, "--slot-ms"),
      DEVNET_TIMING.slotDurationMs,
    )
    .option(
      "--ticks-per-slot <n>",
      "PoH ticks per slot (even)",
      argParser(parseCount, "--ticks-per-slot"),
      DEVNET_TIMING.ticksPerSlot,
    )
    .option(
      "--hashes-per-tick <n>",
      "leader PoH hashes per tick (proposers hash a tenth of it)",
      argParser(parseCount, "--hashes-per-tick"),
      DEVNET_TIMING.hashesPerTick,
    )
    .option(
      "--grace-ticks <n>",
      "ticks the leader waits past a UserBlockSlot for its UserBlocks (up to half a slot)",
      argParser(parseCount, "--grace-ticks"),
      DEVNET_TIMING.graceTicks,
    )
    .option("--mode <mode>", "execution mode: async (SIMD-0023) or sync (the baseline)", "async")
    .option(
      "--embedded",
      "run every role in this process on the in-process bus and store, whatever servers answer",
    )
    .option(
      "--home <dir>",
      "where the devnet file, genesis and logs go (default: $SIMD23_HOME, else .devnet in the repository)",
    )
    .option("--nats <url>", "the NATS server to use when it answers with JetStream", DEFAULT_NATS_URL)
    .option("--redis <url>", "the Redis server to use when it answers", DEFAULT_REDIS_URL)
    .option(
      "--fault <replica=fault>",
      `start a replica with a fault switched on (repeatable): ${Object.entries(FAULTS)
        .map(([name, f]) => `${name} (${f.role}s: ${f.describe})`)
        .join("; ")}`,
      collect,
    )
    .option("--log-level <level>", "the roles' log level", "info")
    .option(
      "--ready-timeout <seconds>",
      "give up when not ready by then",
      argParser(parsePositiveNumber, "--ready-timeout"),
      60,
    )
    .option(
      "--start-delay <seconds>",
      "how far ahead of now the genesis puts slot 0 (the roles boot meanwhile)",
      argParser(parsePositiveNumber, "--start-delay"),
      DEFAULT_START_DELAY_S,
    )
    .option("--json", "print events (mode, ready, status, exit, stopped) as JSON lines")
    .action((flags: DevnetFlags) => runDevnet(flags));

  devnet
    .command("scale")
    .description(
      "run this many proposers on the running devnet: new ones join the proposer schedule within seconds, removed ones leave it gracefully",
    )
    .requiredOption("--proposers <n>", "the number of proposers to run", argParser(parseCount, "--proposers"))
    .option(
      "--home <dir>",
      "the running devnet's home (default: $SIMD23_HOME, else .devnet in the repository)",
    )
    .option("--json", "print the answer as JSON")
    .action(async (flags: ControlFlags & { proposers: number }) => {
      if (flags.proposers < 1) throw new CliError("--proposers: at least 1");
      const result = (await control(flags, "scale", { proposers: flags.proposers })) as {
        added: string[];
        removed: { name: string; code: number | null }[];
      };
      if (flags.json) printJson(result);
      else {
        for (const name of result.added) printLine(`started ${name} (healthy)`);
        for (const r of result.removed) printLine(`stopped ${r.name} (exit ${r.code})`);
        if (result.added.length + result.removed.length === 0)
          printLine(`already running ${flags.proposers} proposers`);
      }
    });

  devnet
    .command("restart")
    .argument("<replica>", "the replica, e.g. executor-3 or proposer-1")
    .description(
      "restart one replica of the running devnet on the same ports, with faults switched on (or, with none given, off) — its old process gets SIGTERM",
    )
    .option(
      "--fault <fault>",
      `a fault to switch on (repeatable): ${Object.entries(FAULTS)
        .map(([name, f]) => `${name} (${f.role}s)`)
        .join(", ")}`,
      collect,
    )
    .option(
      "--env <KEY=VALUE>",
      "an environment variable for it, e.g. SIMD23_FAULT_USER_BLOCK_DELAY_MS=300 (repeatable)",
      collect,
    )
    .option(
      "--home <dir>",
      "the running devnet's home (default: $SIMD23_HOME, else .devnet in the repository)",
    )
    .option("--json", "print the answer as JSON")
    .action(async (replica: string, flags: ControlFlags & { fault?: string[]; env?: string[] }) => {
      const env: Record<string, string> = {};
      const { devnetFilePath } = socketOf(flags);
      for (const fault of flags.fault ?? []) {
        checkFault(replica, fault, "--fault");
        Object.assign(env, FAULTS[fault]!.env(loadDevnet(devnetFilePath).genesis.timing, Date.now()));
      }
      for (const text of flags.env ?? []) {
        const [key, value] = parseEnvFlag(text);
        env[key] = value;
      }
      const result = (await control(flags, "restart", { name: replica, env })) as {
        code: number | null;
        readiness: "healthy" | "halted";
      };
      if (flags.json)
        printJson({ name: replica, previousExit: result.code, env, readiness: result.readiness });
      else
        printLine(
          `restarted ${replica} (previous process exit ${result.code})${
            Object.keys(env).length > 0
              ? ` with ${Object.entries(env)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(" ")}`
              : " with no faults"
          }; ${result.readiness === "healthy" ? "healthy" : "halted with the cluster (a valid halt on CONTROL)"}`,
        );
    });

  devnet
    .command("ps")
    .description("list the running devnet's replicas: pid, address, faults")
    .option(
      "--home <dir>",
      "the running devnet's home (default: $SIMD23_HOME, else .devnet in the repository)",
    )
    .option("--json", "print the list as JSON")
    .action(async (flags: ControlFlags) => {
      const result = (await control(flags, "ps", {}, 10_000)) as {
        replicas: {
          name: string;
          pid: number | null;
          running: boolean;
          address: string;
          env: Record<string, string>;
        }[];
      };
      if (flags.json) printJson(result);
      else
        for (const r of result.replicas)
          printLine(
            `${r.name.padEnd(22)} ${String(r.pid ?? "-").padStart(7)}  ${r.running ? "running" : "exited "}  ${r.address}${
              Object.keys(r.env).length > 0
                ? `  ${Object.entries(r.env)
                    .map(([k, v]) => `${k}=${v}`)
                    .join(" ")}`
                : ""
            }`,
          );
    });
}
