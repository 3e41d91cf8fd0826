import { type ChildProcess, execFile, spawn } from "node:child_process";
import { join } from "node:path";

// `simd23` as a user runs it: the built CLI (packages/client/dist), which the e2e project runs
// after `tsc -b`, with SIMD23_HOME naming the devnet's home so no command needs a flag to find it.

const CLI = join(import.meta.dirname, "../../packages/client/dist/cli/main.js");
// SIMD23_KEEP_E2E_LOGS is the tests' own switch: the roles would warn that nothing reads it.
const { SIMD23_KEEP_E2E_LOGS: _keep, ...inherited } = process.env;

export interface CommandResult {
  readonly command: string;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** One `simd23` command against the devnet in `home`. */
export function simd23(home: string, args: readonly string[], timeoutMs = 120_000): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...inherited, SIMD23_HOME: home }, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) =>
        resolve({
          command: `simd23 ${args.join(" ")}`,
          code: error ? ((error as { code?: number }).code ?? 1) : 0,
          stdout,
          stderr,
        }),
    );
  });
}

/** Throws with the command's output unless it exited 0. */
export function succeeded(result: CommandResult): CommandResult {
  if (result.code !== 0)
    throw new Error(`${result.command} exited ${result.code}:\n${result.stdout}${result.stderr}`);
  return result;
}

/** A running `simd23 devnet`: its process group, everything it printed, and its exit. */
export interface RunningDevnet {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<number | null>;
}

/**
 * Starts `simd23 devnet` in a process group of its own (as a shell starts a foreground job) and
 * resolves once it printed `devnet ready`.
 */
export async function startDevnet(home: string, args: readonly string[] = []): Promise<RunningDevnet> {
  const child = spawn(process.execPath, [CLI, "devnet", "--home", home, ...args], {
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...inherited, SIMD23_HOME: home },
  });
  const lines: string[] = [];
  let buffered = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
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
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) =>
      reject(new Error(`simd23 devnet exited (${code}) before it was ready:\n${lines.join("\n")}`)),
    );
  });
  try {
    await ready;
  } catch (error) {
    killDevnet({ child, lines, exited });
    throw error;
  }
  return { child, lines, exited };
}

/** Ctrl-C: SIGINT to the devnet's whole process group, as a terminal sends it; resolves with its exit code. */
export async function interruptDevnet(devnet: RunningDevnet): Promise<number | null> {
  process.kill(-devnet.child.pid!, "SIGINT");
  return devnet.exited;
}

/** SIGKILL to the devnet's process group, for cleanup after a failure. */
export function killDevnet(devnet: RunningDevnet): void {
  try {
    process.kill(-devnet.child.pid!, "SIGKILL");
  } catch {
    // The group is gone already.
  }
}
