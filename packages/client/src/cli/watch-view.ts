import type { Simd23Client } from "../client.js";
import type {
  ClusterStatus,
  EndpointResult,
  ExecutorStatus,
  HaltInfo,
  LeaderStatus,
  ProposerStatus,
  VerifierStatus,
} from "../cluster.js";
import { type LatencySummary, latencySummary } from "../load/summary.js";
import { PROGRESS_LEVEL_NAMES, type ProgressLevelName, type SignatureUpdate } from "../status.js";
import { cell, formatMs, shortKey } from "./format.js";

/** One poll of every role's status endpoint. */
export interface WatchSnapshot {
  readonly takenAtMs: number;
  readonly cluster: EndpointResult<ClusterStatus> | null;
  readonly proposers: readonly EndpointResult<ProposerStatus>[];
  readonly executors: readonly EndpointResult<ExecutorStatus>[];
  readonly leaders: readonly EndpointResult<LeaderStatus>[];
  readonly verifier: EndpointResult<VerifierStatus> | null;
}

async function single<T>(
  address: string | undefined,
  call: () => Promise<T>,
): Promise<EndpointResult<T> | null> {
  if (address === undefined) return null;
  try {
    return { address, ok: true, value: await call() };
  } catch (error) {
    return { address, ok: false, error: error as Error };
  }
}

async function several<T>(
  addresses: readonly string[],
  call: () => Promise<EndpointResult<T>[]>,
): Promise<EndpointResult<T>[]> {
  return addresses.length === 0 ? [] : call();
}

/** Asks every configured endpoint for its status at once; never throws (failures are per endpoint). */
export async function collectSnapshot(client: Simd23Client): Promise<WatchSnapshot> {
  const { endpoints } = client;
  const [cluster, proposers, executors, leaders, verifier] = await Promise.all([
    single(endpoints.voteAggregator, () => client.getClusterStatus()),
    several(endpoints.proposers, () => client.getProposerStatuses()),
    several(endpoints.executors, () => client.getExecutorStatuses()),
    several(endpoints.leaders, () => client.getLeaderStatuses()),
    single(endpoints.bankHashVerifier, () => client.getVerifierStatus()),
  ]);
  return { takenAtMs: Date.now(), cluster, proposers, executors, leaders, verifier };
}

/** Whether any endpoint answered at all. */
export function anyAnswered(snapshot: WatchSnapshot): boolean {
  return [
    snapshot.cluster,
    snapshot.verifier,
    ...snapshot.proposers,
    ...snapshot.executors,
    ...snapshot.leaders,
  ].some((r) => r?.ok === true);
}

const RATE_WINDOW_MS = 10_000;
const LATENCY_SAMPLES = 1_000;
const TRACKED_SIGNATURES = 100_000;

/**
 * What the stream of every signature's levels says: levels reached in total and over the last
 * ten seconds, received→executed latency over the last thousand executions, and UserBlocks and
 * transactions executed per proposer (from the results).
 */
export class ConfirmationStats {
  readonly totals: Record<ProgressLevelName | "dropped", number> = {
    received: 0,
    proposed: 0,
    recorded: 0,
    optimistic: 0,
    executed: 0,
    finalized: 0,
    dropped: 0,
  };
  private readonly recent: { level: ProgressLevelName | "dropped"; atMs: number }[] = [];
  private readonly receivedAt = new Map<string, number>();
  private readonly latencies: number[] = [];
  readonly blocksByProposer = new Map<string, Set<number>>();
  readonly executedByProposer = new Map<string, number>();
  failures = 0;
  streaming = false;

  record(update: SignatureUpdate, nowMs: number): void {
    this.totals[update.level]++;
    this.recent.push({ level: update.level, atMs: nowMs });
    if (update.level === "received") {
      if (this.receivedAt.size >= TRACKED_SIGNATURES) this.receivedAt.clear();
      this.receivedAt.set(update.signature, update.timeMs);
    }
    if (update.level === "executed") {
      const received = this.receivedAt.get(update.signature);
      if (received !== undefined) {
        this.latencies.push(Math.max(0, update.timeMs - received));
        if (this.latencies.length > LATENCY_SAMPLES) this.latencies.shift();
        this.receivedAt.delete(update.signature);
      }
    }
    const result = update.result;
    if (result !== null && update.level === "executed" && result.proposer) {
      let blocks = this.blocksByProposer.get(result.proposer);
      if (blocks === undefined) {
        blocks = new Set();
        this.blocksByProposer.set(result.proposer, blocks);
      }
      blocks.add(result.userBlockSlot);
      this.executedByProposer.set(result.proposer, (this.executedByProposer.get(result.proposer) ?? 0) + 1);
    }
  }

  /** Levels reached per second over the last ten seconds. */
  ratePerSecond(level: ProgressLevelName | "dropped", nowMs: number): number {
    while (this.recent.length > 0 && this.recent[0]!.atMs < nowMs - RATE_WINDOW_MS) this.recent.shift();
    return (this.recent.filter((r) => r.level === level).length * 1_000) / RATE_WINDOW_MS;
  }

  latency(): LatencySummary {
    return latencySummary(this.latencies);
  }
}

function failure(result: { address: string; ok: false; error: Error }): string {
  return `${result.address}  unreachable: ${result.error.message}`;
}

function haltLine(halt: HaltInfo | null, source: string): string {
  if (halt === null) return `HALTED (${source})`;
  const validators = halt.mismatchedValidators.map(shortKey).join(", ");
  return `HALTED at slot ${halt.slot}: ${halt.reason || "BankHash mismatch"}; ${halt.stake.mismatched} of ${halt.stake.total} stake mismatched${
    validators ? ` (${validators})` : ""
  }`;
}

/** The watch screen for a snapshot and the stream's statistics, one string per line. */
export function renderWatch(
  snapshot: WatchSnapshot,
  stats: ConfirmationStats | null,
  title: string,
  nowMs = snapshot.takenAtMs,
): string[] {
  const lines = [`simd23 watch · ${title} · ${new Date(snapshot.takenAtMs).toISOString()}`];
  const halts: string[] = [];
  const { cluster, verifier } = snapshot;
  if (cluster?.ok && cluster.value.halted) halts.push(haltLine(cluster.value.halt, "vote aggregator"));
  else if (verifier?.ok && verifier.value.halted)
    halts.push(haltLine(verifier.value.halt, "bank-hash verifier"));
  const haltedRoles = [
    ...snapshot.proposers.filter((p) => p.ok && p.value.halted).map((p) => p.address),
    ...snapshot.executors.filter((e) => e.ok && e.value.halted).map((e) => e.address),
    ...snapshot.leaders.filter((l) => l.ok && l.value.halted).map((l) => l.address),
  ];
  if (halts.length === 0 && haltedRoles.length > 0)
    halts.push(`HALTED: ${haltedRoles.join(", ")} stopped producing`);
  lines.push(...halts);

  if (cluster === null) lines.push("slots      (no vote aggregator)");
  else if (!cluster.ok) lines.push(`slots      aggregator ${failure(cluster)}`);
  else {
    const c = cluster.value;
    lines.push(
      `slots      current ${c.slot}   optimistic ${c.optimisticSlot}   executed ${c.executedSlot}   finalized ${c.finalizedSlot}   (execution ${Math.max(0, c.optimisticSlot - c.executedSlot)} behind optimistic)`,
    );
  }

  for (const l of snapshot.leaders) {
    if (!l.ok) lines.push(`leader     ${failure(l)}`);
    else {
      const v = l.value;
      lines.push(
        `leader     ${cell(l.address, 21)} ${cell(shortKey(v.identity), 10)} slot ${v.slot}  ${v.leading ? "leading" : "waiting"}  ${(Number(v.hashesPerSecond) / 1e6).toFixed(2)} MH/s  drift ${v.tickDriftMs.toFixed(1)} ms  last produced ${v.lastProducedSlot}`,
      );
    }
  }

  const reported = snapshot.proposers.find((p) => p.ok && p.value.activeProposers.length > 0);
  const active = reported?.ok ? reported.value.activeProposers : [];
  lines.push(
    `proposers  active set ${active.length}${active.length > 0 ? `: ${active.map(shortKey).join(" ")}` : ""}`,
  );
  lines.push(
    `  ${cell("address", 21)} ${cell("identity", 10)} ${cell("u", 8, "right")} ${cell("sched", 5)} ${cell("queue", 6, "right")} ${cell("blocks", 7, "right")} ${cell("txs", 8, "right")}`,
  );
  for (const p of snapshot.proposers) {
    if (!p.ok) {
      lines.push(`  ${failure(p)}`);
      continue;
    }
    const v = p.value;
    const blocks = stats?.blocksByProposer.get(v.identity)?.size ?? 0;
    const executed = stats?.executedByProposer.get(v.identity) ?? 0;
    lines.push(
      `  ${cell(p.address, 21)} ${cell(shortKey(v.identity), 10)} ${cell(v.userBlockSlot, 8, "right")} ${cell(v.scheduled ? "yes" : "no", 5)} ${cell(v.queueDepth, 6, "right")} ${cell(stats ? blocks : "-", 7, "right")} ${cell(stats ? executed : "-", 8, "right")}${v.halted ? "  halted" : ""}`,
    );
  }

  lines.push("executors  (votes and execution)");
  lines.push(
    `  ${cell("address", 21)} ${cell("validator", 10)} ${cell("voted", 8, "right")} ${cell("executed", 9, "right")} ${cell("root", 8, "right")} ${cell("lag", 5, "right")} ${cell("missing", 8, "right")}  dead slots`,
  );
  for (const e of snapshot.executors) {
    if (!e.ok) {
      lines.push(`  ${failure(e)}`);
      continue;
    }
    const v = e.value;
    lines.push(
      `  ${cell(e.address, 21)} ${cell(shortKey(v.validator), 10)} ${cell(v.votedSlot, 8, "right")} ${cell(v.executedSlot, 9, "right")} ${cell(v.root, 8, "right")} ${cell(v.executionLagSlots, 5, "right")} ${cell(v.missingUserBlocks, 8, "right")}  ${v.deadSlots.length > 0 ? v.deadSlots.join(",") : "-"}${v.halted ? "  halted" : ""}`,
    );
  }

  if (verifier !== null) {
    if (!verifier.ok) lines.push(`verifier   ${failure(verifier)}`);
    else
      lines.push(
        `verifier   executed ${verifier.value.executedSlot}   verified ${verifier.value.verifiedSlot}   ${verifier.value.halted ? "HALTED" : "ok"}`,
      );
  }

  if (stats !== null) {
    lines.push(
      `confirmations (total / per second over 10 s)${stats.streaming ? "" : "   stream down, reconnecting"}`,
    );
    lines.push(
      `  ${[...PROGRESS_LEVEL_NAMES, "dropped" as const]
        .map((level) => `${level} ${stats.totals[level]}/${stats.ratePerSecond(level, nowMs).toFixed(1)}`)
        .join("   ")}`,
    );
    const latency = stats.latency();
    lines.push(
      `  received→executed p50 ${formatMs(latency.p50Ms)}  p99 ${formatMs(latency.p99Ms)}  (last ${latency.count})`,
    );
  }
  return lines;
}
