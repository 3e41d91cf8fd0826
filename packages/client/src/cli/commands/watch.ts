import type { Command } from "commander";
import type { Simd23Client } from "../../client.js";
import { addConnectionOptions, type ConnectionFlags, withClient } from "../connection.js";
import { CliError } from "../errors.js";
import { printJson } from "../format.js";
import { argParser, parseCount } from "../input.js";
import {
  anyAnswered,
  ConfirmationStats,
  collectSnapshot,
  renderWatch,
  type WatchSnapshot,
} from "../watch-view.js";

interface WatchFlags extends ConnectionFlags {
  readonly interval: number;
  readonly once?: boolean;
  readonly json?: boolean;
}

const RESUBSCRIBE_DELAY_MS = 1_000;
const CLEAR_SCREEN = "\x1b[H\x1b[2J";

/** A snapshot as JSON: endpoint failures as their message. */
function snapshotJson(snapshot: WatchSnapshot): unknown {
  const endpoint = <T>(r: { address: string; ok: boolean; value?: T; error?: Error } | null) =>
    r === null
      ? null
      : r.ok
        ? { address: r.address, status: r.value }
        : { address: r.address, error: r.error?.message };
  return {
    takenAt: new Date(snapshot.takenAtMs).toISOString(),
    cluster: endpoint(snapshot.cluster),
    proposers: snapshot.proposers.map(endpoint),
    executors: snapshot.executors.map(endpoint),
    leaders: snapshot.leaders.map(endpoint),
    verifier: endpoint(snapshot.verifier),
  };
}

/** Follows every signature's levels into stats until stopped, reopening the stream when it fails. */
function followConfirmations(client: Simd23Client, stats: ConfirmationStats): () => Promise<void> {
  let running = true;
  let subscription: ReturnType<Simd23Client["subscribeSignatures"]> | undefined;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (running) {
      subscription = client.subscribeSignatures();
      stats.streaming = true;
      try {
        for await (const update of subscription) stats.record(update, Date.now());
      } catch {
        stats.failures++;
      }
      stats.streaming = false;
      if (running)
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, RESUBSCRIBE_DELAY_MS);
        });
    }
  })();
  return async () => {
    running = false;
    subscription?.close();
    wake?.();
    await loop;
  };
}

export function registerWatchCommand(program: Command): void {
  addConnectionOptions(
    program
      .command("watch")
      .description(
        "a live view of the testnet: slots at each confirmation, the leader, UserBlocks per proposer, votes and execution lag per executor, the verifier, confirmations per second with latency, and halts; Ctrl-C stops",
      )
      .option("--interval <ms>", "refresh period", argParser(parseCount, "--interval"), 1_000)
      .option("--once", "print one snapshot and exit (exit 1 if no endpoint answered)")
      .option("--json", "print each snapshot as one JSON line instead of the screen"),
  ).action(async (flags: WatchFlags) => {
    if (flags.interval < 100) throw new CliError("--interval: at least 100 ms");
    await withClient(flags, async (client, connection) => {
      const title = connection.devnet
        ? `devnet ${connection.devnet.file.clusterName} (namespace ${connection.devnet.file.namespace})`
        : "testnet";
      if (flags.once) {
        const snapshot = await collectSnapshot(client);
        if (flags.json) printJson(snapshotJson(snapshot));
        else process.stdout.write(`${renderWatch(snapshot, null, title).join("\n")}\n`);
        if (!anyAnswered(snapshot)) throw new CliError("no endpoint answered", 1);
        return;
      }
      const stats = new ConfirmationStats();
      const stopFollowing =
        client.endpoints.voteAggregator === undefined ? undefined : followConfirmations(client, stats);
      const tty = process.stdout.isTTY === true && !flags.json;
      let stopped = false;
      let wake: (() => void) | undefined;
      let timer: NodeJS.Timeout | undefined;
      const stop = () => {
        stopped = true;
        clearTimeout(timer);
        wake?.();
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      try {
        while (!stopped) {
          const snapshot = await collectSnapshot(client);
          if (flags.json) printJson(snapshotJson(snapshot));
          else {
            const screen = renderWatch(snapshot, stopFollowing ? stats : null, title).join("\n");
            process.stdout.write(tty ? `${CLEAR_SCREEN}${screen}\n` : `${screen}\n\n`);
          }
          if (stopped) break;
          await new Promise<void>((resolve) => {
            wake = resolve;
            timer = setTimeout(resolve, flags.interval);
          });
        }
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        await stopFollowing?.();
      }
    });
  });
}
