import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type DevnetFile, readDevnetFile } from "../../packages/client/src/devnet/file.js";
import { freePort } from "../../packages/client/src/devnet/ports.js";

// `simd23 devnet` as a user runs it: the built CLI as a child process, on the real NATS and
// Redis (or on servers it starts from PATH), driven by the other commands with no flags at all.

const CLI = join(import.meta.dirname, "../../packages/client/dist/cli/main.js");
// The load the first test puts on the devnet, `<rate>x<seconds>`: 100 transactions a second for 5 s
// in the README's test command, well inside what a 2-core machine carries with every role a process;
// SIMD23_E2E_DEVNET_LOAD=500x20 is issue 6's load, past that machine's ceiling: it takes 85 s and is
// accepted at about 270 tx/s, every transaction executed (docs/performance.md).
const LOAD = parseLoad(process.env.SIMD23_E2E_DEVNET_LOAD ?? "100x5");
// SIMD23_KEEP_E2E_LOGS and SIMD23_E2E_DEVNET_LOAD are the test's own switches: the roles would warn
// that nothing reads them.
const { SIMD23_KEEP_E2E_LOGS: _keep, SIMD23_E2E_DEVNET_LOAD: _load, ...inherited } = process.env;

function parseLoad(text: string): { rate: number; seconds: number; transactions: number } {
  const match = /^(\d+)x(\d+)$/.exec(text);
  if (match === null)
    throw new Error(`SIMD23_E2E_DEVNET_LOAD must be <rate>x<seconds>, e.g. 500x20; got ${text}`);
  const [rate, seconds] = [Number(match[1]), Number(match[2])];
  return { rate, seconds, transactions: rate * seconds };
}
const homes: string[] = [];
const running: ChildProcess[] = [];

afterAll(() => {
  for (const child of running) {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // The group is gone: the test stopped it.
    }
  }
  if (process.env.SIMD23_KEEP_E2E_LOGS === undefined)
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  else console.log(`devnet homes: ${homes.join(" ")}`);
});

function newHome(): string {
  const home = mkdtempSync(join(tmpdir(), "simd23-e2e-devnet-"));
  homes.push(home);
  return home;
}

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** One `simd23` command with SIMD23_HOME pointing at the devnet's home: no other flag finds it. */
function simd23(home: string, args: readonly string[], timeoutMs = 120_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...inherited, SIMD23_HOME: home }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

interface RunningDevnet {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly readyLine: string;
  readonly readyAfterMs: number;
  readonly exited: Promise<number | null>;
}

/**
 * Starts `simd23 devnet` in a process group of its own (as a shell starts a foreground job),
 * and resolves once it printed `devnet ready`.
 */
async function startDevnet(home: string, args: readonly string[] = []): Promise<RunningDevnet> {
  const startedAt = Date.now();
  const child = spawn(process.execPath, [CLI, "devnet", "--home", home, ...args], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...inherited, SIMD23_HOME: home },
  });
  running.push(child);
  const lines: string[] = [];
  let buffered = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (line.startsWith("devnet ready")) resolve(line);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) =>
      reject(new Error(`devnet exited (${code}) before it was ready:\n${lines.join("\n")}`)),
    );
  });
  const readyLine = await ready;
  return { child, lines, readyLine, readyAfterMs: Date.now() - startedAt, exited };
}

/** Ctrl-C: SIGINT to the devnet's whole process group, as a terminal sends it. */
async function interrupt(devnet: RunningDevnet): Promise<number | null> {
  process.kill(-devnet.child.pid!, "SIGINT");
  return devnet.exited;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const pidsOf = (file: DevnetFile) =>
  [
    ...file.proposers,
    ...file.leaders,
    ...file.executors,
    ...file.voteAggregators,
    ...file.bankHashVerifiers,
  ].map((p) => p.pid);

describe("simd23 devnet: bad input", () => {
  it("answers a bad flag, a size out of range or a home it cannot write with one line and a non-zero exit", async () => {
    const home = newHome();
    const notADirectory = join(home, "file");
    const { writeFileSync } = await import("node:fs");
    writeFileSync(notADirectory, "");
    const cases: [string[], RegExp][] = [
      [["--bogus"], /^error: unknown option '--bogus'/],
      [["--validators", "four"], /^error: --validators: expected a non-negative integer, got "four"$/],
      [["--validators", "0"], /^error: --validators: expected 1 to 32, got 0$/],
      [["--proposers", "17"], /^error: --proposers: expected 1 to 16, got 17$/],
      [["--leaders", "5"], /^error: --leaders: expected 1 to 4, got 5$/],
      [["--ticks-per-slot", "15"], /^error: --ticks-per-slot: expected an even number/],
      // The grace must end inside the next UserBlockSlot: at most 7 of the default 16 ticks per slot.
      [["--grace-ticks", "8"], /^error: --grace-ticks: expected 0 to 7, got 8$/],
      [["--mode", "eager"], /^error: --mode: expected "async" or "sync", got "eager"$/],
      [["--fault", "executor-1=equivocate"], /^error: --fault: the equivocate fault applies to proposers/],
      [["--home", join(notADirectory, "devnet")], /^error: --home: cannot write to .*: ENOTDIR$/],
    ];
    const results = await Promise.all(
      cases.map(([args]) => simd23(home, ["devnet", "--home", join(home, "h"), ...args], 30_000)),
    );
    results.forEach((result, i) => {
      const [args, message] = cases[i]!;
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(result.stderr.trimEnd()).toMatch(message);
      expect(result.stdout).toBe("");
    });
    expect(existsSync(join(home, "h", "devnet.json"))).toBe(false);
    // With no devnet running, the commands that act on one say so in one line.
    const scale = await simd23(home, ["devnet", "scale", "--proposers", "2"]);
    expect(scale.code).toBe(1);
    expect(scale.stderr.trimEnd()).toMatch(/^error: .*devnet\.json: no devnet file here: start a devnet/);
  });
});

describe("simd23 devnet on NATS and Redis", () => {
  it(
    `is ready within 60 s; transfer, status and a ${LOAD.rate}/s load for ${LOAD.seconds} s need no flags; Ctrl-C stops everything`,
    async () => {
      const home = newHome();
      const devnet = await startDevnet(home);
      console.log(`${devnet.readyLine} (seen by the test after ${devnet.readyAfterMs} ms)`);
      expect(devnet.readyAfterMs).toBeLessThan(60_000);
      expect(devnet.lines[0]).toMatch(
        /^devnet devnet-[0-9a-f]{8}: every role as its own process on NATS nats:\/\/127\.0\.0\.1:4222 and Redis redis:\/\/127\.0\.0\.1:6379/,
      );
      const file = readDevnetFile(join(home, "devnet.json"));
      expect(file.proposers).toHaveLength(3);
      expect(file.executors).toHaveLength(4);
      expect(file.leaders).toHaveLength(1);
      expect(file.voteAggregators).toHaveLength(1);
      expect(file.bankHashVerifiers).toHaveLength(1);
      const pids = pidsOf(file);
      expect(new Set(pids).size).toBe(10);
      expect(pids.every(alive)).toBe(true);

      // A transfer and its status, found through the devnet file alone.
      const keygen = await simd23(home, ["keygen", "--json"]);
      const { pubkey } = JSON.parse(keygen.stdout) as { pubkey: string };
      const transfer = await simd23(home, ["transfer", "--to", pubkey, "--amount", "1000", "--json"]);
      expect(transfer).toMatchObject({ code: 0, stderr: "" });
      const { signature } = JSON.parse(transfer.stdout) as { signature: string };
      const levelsOf = async () => {
        const status = await simd23(home, ["status", signature, "--json"]);
        expect(status.code).toBe(0);
        return JSON.parse(status.stdout) as { levels: Record<string, string>; result: string | null };
      };
      const executed = await levelsOf();
      expect(executed.levels.executed).toBeDefined();
      expect(executed.result).toBe("ok");
      await expect
        .poll(async () => (await levelsOf()).levels.finalized, { timeout: 40_000, interval: 1_000 })
        .toBeDefined();
      const finalized = await levelsOf();
      expect(Object.keys(finalized.levels)).toEqual([
        "received",
        "proposed",
        "recorded",
        "optimistic",
        "executed",
        "finalized",
      ]);

      // The load at its rate: every transaction reaches executed, with p50/p99 per level.
      const load = await simd23(
        home,
        ["load", "--rate", String(LOAD.rate), "--duration", `${LOAD.seconds}s`],
        60_000 + LOAD.transactions * 15,
      );
      console.log(load.stdout.split("\n").slice(0, 12).join("\n"));
      // What the proposers and the leader counted, to tell why a transaction was refused or late.
      for (const role of [...file.proposers, ...file.leaders]) {
        const text = await (await fetch(role.metricsUrl!)).text();
        const counted = text
          .split("\n")
          .filter((line) => /_(refused_total|missed_total|requeued_total)(\{.*\})? [1-9]/.test(line));
        console.log(`${role.name}: ${counted.join("  ") || "nothing refused, missed or requeued"}`);
      }
      expect(load.stderr.split("\n").filter((line) => line.startsWith("error"))).toEqual([]);
      expect(load.code).toBe(0);
      expect(load.stdout).toMatch(
        new RegExp(
          `^sent ${LOAD.transactions} of ${LOAD.transactions} planned in [\\d.]+ s: accepted ${LOAD.transactions} `,
          "m",
        ),
      );
      expect(load.stdout).not.toMatch(/^rejected:/m);
      expect(load.stdout).toMatch(/^level\s+count\s+share\s+p50\s+p99$/m);
      for (const level of ["received", "proposed", "recorded", "optimistic", "executed"])
        expect(load.stdout).toMatch(
          new RegExp(`^${level}\\s+${LOAD.transactions}\\s+100\\.0%\\s+\\S+ m?s\\s+\\S+ m?s$`, "m"),
        );
      expect(load.stdout).not.toMatch(/never reached executed/);

      // The status line went on meanwhile (plain lines: the output is not a terminal).
      expect(
        devnet.lines.some((line) =>
          /^slot \d+ \| optimistic \d+ \| executed \d+ \| finalized \d+ \| UserBlocks p0:\d+ p1:\d+ p2:\d+ \| [\d.]+ tps \| lag \d+ slots/.test(
            line,
          ),
        ),
      ).toBe(true);

      // Ctrl-C: every role gets SIGTERM and exits 0, the devnet file goes, no process stays.
      expect(await interrupt(devnet)).toBe(0);
      const stopped = devnet.lines.find((line) => line.startsWith("stopped: "));
      expect(stopped).toBeDefined();
      expect(stopped!.match(/exit 0/g)).toHaveLength(10);
      expect(existsSync(join(home, "devnet.json"))).toBe(false);
      expect(pids.filter(alive)).toEqual([]);
      const status = await simd23(home, ["status", signature]);
      expect(status.code).toBe(1);
      expect(status.stderr).toMatch(/no devnet file here/);
    },
    120_000 + LOAD.transactions * 15,
  );
});

describe("simd23 devnet without servers running", () => {
  it("starts nats-server and redis-server from PATH in its home, and stops them with itself", async () => {
    const home = newHome();
    const [natsPort, redisPort] = [await freePort(), await freePort()];
    const devnet = await startDevnet(home, [
      "--nats",
      `nats://127.0.0.1:${natsPort}`,
      "--redis",
      `redis://127.0.0.1:${redisPort}`,
      "--validators",
      "1",
      "--proposers",
      "1",
    ]);
    expect(devnet.lines[0]).toMatch(
      new RegExp(
        `no NATS answers at nats://127\\.0\\.0\\.1:${natsPort}: started .*nats-server -js .*no Redis answers at redis://127\\.0\\.0\\.1:${redisPort}: started .*redis-server`,
      ),
    );
    const file = readDevnetFile(join(home, "devnet.json"));
    expect(file.bus).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(file.bus).not.toBe(`nats://127.0.0.1:${natsPort}`);
    expect(existsSync(join(home, "runs", file.namespace, "servers", "nats-server", "nats-server.log"))).toBe(
      true,
    );
    expect(await interrupt(devnet)).toBe(0);
    expect(devnet.lines).toContain("stopped the servers it started: nats-server exit 0, redis-server exit 0");
    expect(
      readFileSync(join(home, "runs", file.namespace, "servers", "redis-server", "redis-server.log"), "utf8"),
    ).toMatch(/ready to exit, bye bye/i);
  }, 90_000);
});
