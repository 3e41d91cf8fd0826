import type { Command } from "commander";
import { type LoadKind, type LoadProgress, type LoadReport, runLoad } from "../../load/generator.js";
import { isLevelName, PROGRESS_LEVEL_NAMES, type ProgressLevelName } from "../../status.js";
import { addConnectionOptions, type ConnectionFlags, withClient } from "../connection.js";
import { CliError } from "../errors.js";
import { cell, formatMs, printJson, printLine } from "../format.js";
import { argParser, parseCount, parseDuration, parseLamports, parsePositiveNumber } from "../input.js";

interface LoadFlags extends ConnectionFlags {
  readonly rate: number;
  readonly duration: number;
  readonly payers: number;
  readonly kind: string;
  readonly burnUnits: number;
  readonly cuPrice?: bigint;
  readonly until: string;
  readonly settleTimeout: number;
  readonly maxInFlight: number;
  readonly json?: boolean;
}

const KINDS: readonly LoadKind[] = ["transfer", "memo", "burn"];
const BAR_WIDTH = 30;
const PLAIN_PROGRESS_MS = 5_000;

/** `[=====>      ]` for a fraction from 0 to 1. */
export function progressBar(fraction: number, width = BAR_WIDTH): string {
  const clamped = Math.min(1, Math.max(0, fraction));
  const filled = Math.floor(clamped * width);
  const head = filled < width && clamped > 0 ? ">" : "";
  return `[${"=".repeat(filled)}${head}${" ".repeat(width - filled - head.length)}]`;
}

export function progressLine(progress: LoadProgress): string {
  const seconds = (progress.elapsedMs / 1_000).toFixed(1);
  if (progress.phase === "funding") return `funding fee payers from the faucet… ${seconds} s`;
  const counts = `accepted ${progress.accepted}  rejected ${progress.rejected}  failed ${progress.failed}  executed ${progress.reached.executed}  finalized ${progress.reached.finalized}  dropped ${progress.dropped}`;
  if (progress.phase === "sending")
    return `${progressBar(progress.sent / progress.planned)} ${progress.sent}/${progress.planned} sent in ${seconds} s  ${counts}`;
  return `settling ${seconds} s  ${counts}`;
}

/** The report as a table: each level's count, share of accepted and p50/p99 latency; then what went wrong. */
export function reportLines(report: LoadReport): string[] {
  const share = (n: number) => (report.accepted === 0 ? "-" : `${((100 * n) / report.accepted).toFixed(1)}%`);
  const lines = [
    `sent ${report.sent} of ${report.planned} planned in ${(report.sendDurationMs / 1_000).toFixed(1)} s: accepted ${report.accepted} (${report.acceptedPerSecond.toFixed(1)}/s against a target of ${report.rate}/s)`,
  ];
  const rejected = Object.entries(report.rejected);
  if (rejected.length > 0)
    lines.push(`rejected: ${rejected.map(([reason, n]) => `${reason} ${n}`).join(", ")}`);
  const failed = Object.entries(report.failed);
  if (failed.length > 0)
    lines.push(`failed to send: ${failed.map(([name, n]) => `${name} ${n}`).join(", ")}`);
  lines.push(
    `${cell("level", 12)} ${cell("count", 8, "right")} ${cell("share", 7, "right")} ${cell("p50", 9, "right")} ${cell("p99", 9, "right")}`,
  );
  for (const level of PROGRESS_LEVEL_NAMES) {
    const summary = report.levels[level];
    lines.push(
      `${cell(level, 12)} ${cell(summary.count, 8, "right")} ${cell(share(summary.count), 7, "right")} ${cell(formatMs(summary.p50Ms), 9, "right")} ${cell(formatMs(summary.p99Ms), 9, "right")}`,
    );
  }
  lines.push("latency: from submission to the time the aggregator stamped on the level");
  const dropped = Object.entries(report.dropped);
  if (dropped.length > 0) lines.push(`dropped: ${dropped.map(([reason, n]) => `${reason} ${n}`).join(", ")}`);
  const results = Object.entries(report.results);
  if (results.length > 0) lines.push(`results: ${results.map(([status, n]) => `${status} ${n}`).join(", ")}`);
  if (report.notExecuted.length > 0) {
    lines.push(`${report.notExecuted.length} accepted transactions never reached executed:`);
    for (const t of report.notExecuted)
      lines.push(
        `  ${t.signature}  ${t.level ?? "never reported"}${t.droppedReason ? ` (${t.droppedReason})` : ""}`,
      );
  }
  return lines;
}

export function registerLoadCommand(program: Command): void {
  addConnectionOptions(
    program
      .command("load")
      .description(
        "generate load at a target rate: funds its own fee payers from the faucet, sends, follows every transaction's levels and reports the count reaching each level with p50/p99 latency, and every transaction that never executed (exit 1 if any)",
      )
      .requiredOption(
        "--rate <tps>",
        "target transactions per second",
        argParser(parsePositiveNumber, "--rate"),
      )
      .option(
        "--duration <time>",
        "how long to send (20, 20s, 2m)",
        argParser(parseDuration, "--duration"),
        10,
      )
      .option("--payers <n>", "fee payers to spread the load over", argParser(parseCount, "--payers"), 8)
      .option(
        "--kind <kind>",
        "transfer (1 lamport between payers), memo, or burn (compute units)",
        "transfer",
      )
      .option(
        "--burn-units <n>",
        "compute units each burn transaction consumes",
        argParser(parseCount, "--burn-units"),
        10_000,
      )
      .option(
        "--cu-price <microLamports>",
        "priority fee rate of every transaction",
        argParser(parseLamports, "--cu-price"),
      )
      .option(
        "--until <level>",
        "the level to wait for every transaction to reach before reporting",
        "finalized",
      )
      .option(
        "--settle-timeout <seconds>",
        "how long to wait for it after sending",
        argParser(parseDuration, "--settle-timeout"),
        60,
      )
      .option(
        "--max-in-flight <n>",
        "most submissions awaiting an answer at once",
        argParser(parseCount, "--max-in-flight"),
        256,
      )
      .option("--json", "print the report as JSON (latencies in ms, lamports as decimal strings)"),
  ).action(async (flags: LoadFlags) => {
    if (!(KINDS as readonly string[]).includes(flags.kind))
      throw new CliError(`--kind: expected transfer, memo or burn, got "${flags.kind}"`);
    if (!isLevelName(flags.until) || flags.until === "dropped")
      throw new CliError(`--until: expected a level from received to finalized, got "${flags.until}"`);
    if (flags.payers < 1) throw new CliError("--payers: at least 1");
    if (flags.maxInFlight < 1) throw new CliError("--max-in-flight: at least 1");
    const until = flags.until as ProgressLevelName;
    const tty = process.stderr.isTTY === true;
    let lastPlainMs = 0;
    const onProgress = (progress: LoadProgress) => {
      if (tty) process.stderr.write(`\r\x1b[2K${progressLine(progress)}`);
      else if (!flags.json && Date.now() - lastPlainMs >= PLAIN_PROGRESS_MS) {
        lastPlainMs = Date.now();
        process.stderr.write(`${progressLine(progress)}\n`);
      }
    };
    const abort = new AbortController();
    const interrupt = () => {
      if (abort.signal.aborted) process.exit(130);
      abort.abort();
      process.stderr.write("\nstopping: reporting what was sent (Ctrl-C again to quit now)\n");
    };
    process.on("SIGINT", interrupt);
    try {
      const report = await withClient(flags, (client) =>
        runLoad(client, {
          rate: flags.rate,
          durationMs: Math.round(flags.duration * 1_000),
          payers: flags.payers,
          kind: flags.kind as LoadKind,
          burnUnits: flags.burnUnits,
          ...(flags.cuPrice === undefined ? {} : { computeUnitPrice: flags.cuPrice }),
          until,
          settleTimeoutMs: Math.round(flags.settleTimeout * 1_000),
          maxInFlight: flags.maxInFlight,
          signal: abort.signal,
          onProgress,
        }),
      );
      if (tty) process.stderr.write("\r\x1b[2K");
      if (flags.json) printJson(report);
      else for (const line of reportLines(report)) printLine(line);
      // The run fails when an accepted transaction fell short of the level it was asked to wait for
      // (and, from `executed` on, of execution itself).
      const waitedForExecution =
        PROGRESS_LEVEL_NAMES.indexOf(until) >= PROGRESS_LEVEL_NAMES.indexOf("executed");
      const short = waitedForExecution
        ? report.notExecuted.length
        : report.accepted - report.levels[until].count;
      if (short > 0)
        throw new CliError(
          `${short} of ${report.accepted} accepted transactions never reached ${waitedForExecution ? "executed" : until}`,
          1,
        );
    } finally {
      process.off("SIGINT", interrupt);
    }
  });
}
