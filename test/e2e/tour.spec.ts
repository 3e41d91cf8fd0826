import { type ChildProcess, exec, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// The README's five-minute tour, command for command, as a user types it in two terminals at
// the repository root. The test only sets SIMD23_HOME, so the tour's devnet does not touch the
// checkout's own .devnet, and fills in the <pubkey> and <signature> the user would copy.

const REPO = join(import.meta.dirname, "../..");
const home = mkdtempSync(join(tmpdir(), "simd23-e2e-tour-"));
// SIMD23_KEEP_E2E_LOGS is the test's own switch: the roles would warn that nothing reads it.
const { SIMD23_KEEP_E2E_LOGS: _keep, ...inherited } = process.env;
const env = { ...inherited, SIMD23_HOME: home };
let devnet: ChildProcess | undefined;

afterAll(() => {
  try {
    if (devnet !== undefined) process.kill(-devnet.pid!, "SIGKILL");
  } catch {
    // The tour's Ctrl-C already ended the whole group.
  }
  if (process.env.SIMD23_KEEP_E2E_LOGS === undefined) rmSync(home, { recursive: true, force: true });
  else console.log(`tour home: ${home}`);
});

/** The tour's commands, as the README shows them. */
const TOUR = {
  start: "pnpm devnet",
  keygen: "pnpm -s simd23 keygen",
  transfer: "pnpm -s simd23 transfer --to <pubkey> --amount 1000000",
  status: "pnpm -s simd23 status <signature> --wait finalized",
  balance: "pnpm -s simd23 balance <pubkey>",
  watch: "pnpm -s simd23 watch --once",
  load: "pnpm -s simd23 load --rate 100 --duration 10s",
  scale: "pnpm -s simd23 devnet scale --proposers 4",
  fault: "pnpm -s simd23 devnet restart executor-3 --fault wrong-bank-hash",
  halt: "pnpm -s simd23 devnet restart executor-2 --fault wrong-bank-hash",
} as const;

/** Runs one tour command in a shell at the repository root; prints it with its output, as the README will. */
function run(
  command: string,
  fill: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const line = command.replace(/<(\w+)>/g, (_, name: string) => fill[name] ?? `<${name}>`);
  return new Promise((resolve) => {
    exec(line, { cwd: REPO, env, timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      console.log(`$ ${command}\n${stdout}${stderr}`);
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Polls `watch --once` until its screen matches. */
async function watchUntil(pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let screen = "";
  while (Date.now() < deadline) {
    const result = await new Promise<string>((resolve) =>
      exec(TOUR.watch, { cwd: REPO, env }, (_error, stdout) => resolve(stdout)),
    );
    screen = result;
    if (pattern.test(screen)) {
      console.log(`$ ${TOUR.watch}\n${screen}`);
      return screen;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  throw new Error(`watch never showed ${pattern}; last screen:\n${screen}`);
}

describe("the README tour", () => {
  it("is the README's tour: every command the README shows is one this test runs, and the other way round", () => {
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    const tour = readme.slice(readme.indexOf("## A five-minute tour"), readme.indexOf("## Layout"));
    const shown = new Set([...tour.matchAll(/^\$ (.+)$/gm)].map((m) => m[1]!.trim()));
    expect(shown).toEqual(new Set(Object.values(TOUR)));
  });

  it("starts a devnet, follows a transfer to finalized, loads it, scales proposers, injects a fault and halts", async () => {
    // Terminal 1.
    const lines: string[] = [];
    devnet = spawn("sh", ["-c", TOUR.start], {
      cwd: REPO,
      env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    // "close": every process holding the output pipes is gone (pnpm, and the devnet it runs).
    const exited = new Promise<number | null>((resolve) => devnet!.once("close", (code) => resolve(code)));
    let buffered = "";
    const ready = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        const parts = buffered.split("\n");
        buffered = parts.pop() ?? "";
        for (const line of parts) {
          lines.push(line);
          if (line.startsWith("devnet ready")) resolve();
        }
      };
      devnet!.stdout!.on("data", onData);
      devnet!.stderr!.on("data", onData);
      void exited.then((code) => reject(new Error(`pnpm devnet exited (${code}):\n${lines.join("\n")}`)));
    });
    await ready;
    console.log(`$ ${TOUR.start}\n${lines.join("\n")}`);

    // Terminal 2: an account, a transfer to it, its levels.
    const keygen = await run(TOUR.keygen);
    expect(keygen.code).toBe(0);
    const pubkey = /^pubkey: (\S+)$/m.exec(keygen.stdout)![1]!;

    const transfer = await run(TOUR.transfer, { pubkey });
    expect(transfer.code).toBe(0);
    expect(transfer.stdout).toMatch(/^executed after \d+ ms: ok \(fee 5000 lamports, slot \d+/m);
    const signature = /^Signature: (\S+)$/m.exec(transfer.stdout)![1]!;

    const status = await run(TOUR.status, { signature });
    expect(status.code).toBe(0);
    for (const level of ["received", "proposed", "recorded", "optimistic", "executed", "finalized"])
      expect(status.stdout).toMatch(
        new RegExp(`^  ${level}\\s+\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z  \\+\\d+ ms$`, "m"),
      );
    expect(status.stdout).toMatch(/^Result: ok/m);

    const balance = await run(TOUR.balance, { pubkey });
    expect(balance.stdout.trim()).toBe("1000000 lamports");

    await watchUntil(/^proposers {2}active set 3/m, 10_000);

    const load = await run(TOUR.load);
    expect(load.code).toBe(0);
    expect(load.stdout).toMatch(/^sent 1000 of 1000 planned in [\d.]+ s: accepted 1000 /m);
    expect(load.stdout).toMatch(/^finalized\s+1000\s+100\.0%/m);

    // Scale: a fourth proposer starts and joins the schedule within seconds.
    const scale = await run(TOUR.scale);
    expect(scale.code).toBe(0);
    expect(scale.stdout.trim()).toBe("started proposer-3 (healthy)");
    await watchUntil(/^proposers {2}active set 4/m, 20_000);

    // A fault: executor-3 computes wrong BankHashes; the verifier reports it, the cluster goes on.
    const fault = await run(TOUR.fault);
    expect(fault.code).toBe(0);
    expect(fault.stdout).toMatch(
      /^restarted executor-3 \(previous process exit 0\) with SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT=\d+; healthy$/m,
    );
    const minority = await watchUntil(/^ {2}\S+\s+\S+\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+ {2}\d+(,\d+)*/m, 30_000);
    expect(minority).not.toMatch(/HALTED/);

    // A second one: more than 1/3 of stake is wrong, and every role halts — on a slow machine
    // before executor-2 has replayed the ledger, and the restart says so.
    const halt = await run(TOUR.halt);
    expect(halt.code).toBe(0);
    expect(halt.stdout).toMatch(
      /^restarted executor-2 \(previous process exit 0\) with SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT=\d+; (healthy|halted with the cluster \(a valid halt on CONTROL\))$/m,
    );
    await watchUntil(/^HALTED at slot \d+: .*2000000000000 of 4000000000000 stake mismatched/m, 30_000);

    // Ctrl-C in terminal 1: the shell and pnpm end on it; the devnet stops every role cleanly.
    const file = JSON.parse(readFileSync(join(home, "devnet.json"), "utf8")) as Record<
      string,
      { pid: number }[]
    >;
    const pids = ["proposers", "leaders", "executors", "voteAggregators", "bankHashVerifiers"].flatMap(
      (key) => file[key]!.map((p) => p.pid),
    );
    process.kill(-devnet.pid!, "SIGINT");
    await exited;
    console.log(lines.slice(-2).join("\n"));
    const stopped = lines.find((line) => line.startsWith("stopped: "));
    expect(stopped?.match(/exit 0/g)).toHaveLength(11);
    expect(existsSync(join(home, "devnet.json"))).toBe(false);
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    expect(alive).toEqual([]);
  }, 175_000);
});
