import type { TransactionStatus } from "../../packages/client/src/status.js";
import type { LevelViolation } from "./level-monitor.js";
import type { SentTransaction } from "./steady-load.js";

// The accounting checker: the rules every fault schedule is held to (docs/reliability.md).
// Pure functions over what the test collected — what it sent and what proposers answered, the
// vote aggregator's final statuses, the transaction results of the finalized chain (the
// verifier's FINALIZED verdicts), the verifier's tallies and what the level monitor saw.

/** One transaction result on the finalized chain. */
export interface ChainResult {
  readonly slot: number;
  /** `ok` or the ExecutionStatus name (`Duplicate`, …), as the client names it. */
  readonly status: string;
  readonly fee: bigint;
}

/** `Duplicate` is the bank skipping a signature it already executed on the fork: not an execution. */
export const isExecution = (result: ChainResult): boolean => result.status !== "Duplicate";

export interface ScheduleAccount {
  readonly schedule: string;
  readonly sent: number;
  readonly acknowledged: number;
  /** Typed refusals by reason: the proposer took nothing. */
  readonly rejected: Readonly<Record<string, number>>;
  /** Submissions with no answer: not acknowledged, so they may or may not execute. */
  readonly unanswered: number;
  /** Acknowledged, and executed with a result. */
  readonly executed: number;
  /** Acknowledged, and dropped: by reason. */
  readonly dropped: Readonly<Record<string, number>>;
  /** Acknowledged and neither executed nor dropped: must be none. */
  readonly lost: readonly string[];
  /** After a halt: acknowledged, not executed before the halt, and frozen by it (the halt's schedule only). */
  readonly heldByHalt: number;
  /** Executed more than once on the finalized chain: must be none. */
  readonly doublyExecuted: readonly string[];
  /** The aggregator's status disagrees with the finalized chain (executed without a chain result, a different result, dropped yet executed): must be none. */
  readonly statusConflicts: readonly string[];
  /** Confirmation levels that went backwards (a level or result taken back, two terminal statuses): must be none. */
  readonly levelViolations: readonly LevelViolation[];
  /** Informational: a level's time reported differently later (a proposer's time replacing the aggregator's first guess). */
  readonly retimed: number;
  /** Informational: not acknowledged, yet executed on the chain (the answer was lost, the transaction was not). */
  readonly unansweredButExecuted: number;
}

export interface AccountingInput {
  readonly sent: readonly SentTransaction[];
  /** The aggregator's status of every acknowledged transaction, polled after the run. */
  readonly statuses: ReadonlyMap<string, TransactionStatus>;
  /** Every result of the finalized chain, by signature. */
  readonly chain: ReadonlyMap<string, readonly ChainResult[]>;
  /** The newest slot the chain was read through: a result in a later slot is not final yet, not wrong. */
  readonly newestFinalizedSlot: number;
  readonly violations: readonly LevelViolation[];
}

const increment = (counts: Record<string, number>, key: string): void => {
  counts[key] = (counts[key] ?? 0) + 1;
};

/**
 * Accounts for every transaction of one schedule. `halted`: the schedule ended in the halt it was
 * meant to cause, so what had not executed before it is frozen, not lost.
 */
export function accountSchedule(schedule: string, input: AccountingInput, halted = false): ScheduleAccount {
  const sent = input.sent.filter((t) => t.schedule === schedule);
  const rejected: Record<string, number> = {};
  const dropped: Record<string, number> = {};
  const lost: string[] = [];
  const doublyExecuted: string[] = [];
  const statusConflicts: string[] = [];
  let acknowledged = 0;
  let unanswered = 0;
  let executed = 0;
  let unansweredButExecuted = 0;
  let heldByHalt = 0;
  const signatures = new Set(sent.map((t) => t.signature));
  for (const transaction of sent) {
    const onChain = (input.chain.get(transaction.signature) ?? []).filter(isExecution);
    if (onChain.length > 1) doublyExecuted.push(transaction.signature);
    const { outcome } = transaction;
    if (outcome.kind === "rejected") {
      increment(rejected, outcome.reason);
      continue;
    }
    if (outcome.kind !== "acknowledged") {
      unanswered++;
      if (onChain.length > 0) unansweredButExecuted++;
      continue;
    }
    acknowledged++;
    const status = input.statuses.get(transaction.signature);
    const result = status?.result ?? null;
    if (status !== undefined && result !== null && status.levels.executed !== undefined) {
      executed++;
      const match = onChain.find((r) => r.status === result.status && r.slot === result.slot);
      if (match === undefined)
        statusConflicts.push(
          `${transaction.signature}: the aggregator says ${result.status} in slot ${result.slot}, the finalized chain has ${
            onChain.map((r) => `${r.status} in slot ${r.slot}`).join(", ") || "nothing"
          }${result.slot > input.newestFinalizedSlot ? ` (finalized only through slot ${input.newestFinalizedSlot} when it was read)` : ""}`,
        );
    } else if (status?.droppedReason != null) {
      increment(dropped, status.droppedReason);
      if (onChain.length > 0)
        statusConflicts.push(
          `${transaction.signature}: dropped (${status.droppedReason}) yet executed in slot ${onChain[0]!.slot}`,
        );
    } else if (halted) heldByHalt++;
    else lost.push(transaction.signature);
  }
  const ours = input.violations.filter((v) => signatures.has(v.signature));
  return {
    schedule,
    sent: sent.length,
    acknowledged,
    rejected,
    unanswered,
    executed,
    dropped,
    lost,
    heldByHalt,
    doublyExecuted,
    statusConflicts,
    levelViolations: ours.filter((v) => v.kind !== "retimed"),
    retimed: ours.filter((v) => v.kind === "retimed").length,
    unansweredButExecuted,
  };
}

/** One slot's tally as the verifier answers it, validators by genesis name. */
export interface TallyRow {
  readonly slot: number;
  readonly known: boolean;
  readonly matched: bigint;
  readonly mismatched: bigint;
  readonly missing: bigint;
  readonly total: bigint;
  readonly mismatchedValidators: readonly string[];
}

/**
 * Honest validators agree on every BankHash: on every finalized slot the matched stake is all the
 * honest stake (no mismatch, nothing missing), and on every other tallied slot no honest validator
 * mismatched. `wrongAt(slot)` names the validators a schedule made wrong on purpose.
 */
export function checkAgreement(
  rows: readonly TallyRow[],
  finalized: ReadonlySet<number>,
  stakeOf: (validator: string) => bigint,
  wrongAt: (slot: number) => ReadonlySet<string> = () => new Set(),
): string[] {
  const problems: string[] = [];
  for (const row of rows) {
    if (!row.known) {
      if (finalized.has(row.slot)) problems.push(`slot ${row.slot} is finalized but has no tally`);
      continue;
    }
    const wrong = wrongAt(row.slot);
    const honestMismatch = row.mismatchedValidators.filter((v) => !wrong.has(v));
    if (honestMismatch.length > 0)
      problems.push(`slot ${row.slot}: honest ${honestMismatch.join(", ")} mismatched`);
    if (!finalized.has(row.slot)) continue;
    const wrongStake = [...wrong].reduce((sum, v) => sum + stakeOf(v), 0n);
    if (row.matched !== row.total - wrongStake || row.missing !== 0n)
      problems.push(
        `finalized slot ${row.slot}: matched ${row.matched}, mismatched ${row.mismatched}, missing ${row.missing} of ${row.total} (honest stake ${row.total - wrongStake})`,
      );
  }
  return problems;
}

/** The per-schedule table the suite prints. */
export function formatAccounts(accounts: readonly ScheduleAccount[]): string {
  const header = [
    "schedule",
    "sent",
    "acked",
    "executed",
    "dropped",
    "lost",
    "held by halt",
    "twice",
    "conflicts",
    "levels back",
    "rejected",
    "unanswered",
  ];
  const reasons = (counts: Readonly<Record<string, number>>): string =>
    Object.entries(counts)
      .map(([reason, n]) => `${n} ${reason}`)
      .join(", ") || "0";
  const rows = accounts.map((a) => [
    a.schedule,
    String(a.sent),
    String(a.acknowledged),
    String(a.executed),
    reasons(a.dropped),
    String(a.lost.length),
    String(a.heldByHalt),
    String(a.doublyExecuted.length),
    String(a.statusConflicts.length),
    String(a.levelViolations.length),
    reasons(a.rejected),
    String(a.unanswered),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}
