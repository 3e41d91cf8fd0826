import { slotAt } from "@simd23/core";
import type { FaultDevnet } from "./devnet.js";

// The fault schedules: one fault at a time, applied while the steady load runs. Each returns once
// the fault is over (the replica or server is back); the runner then lets the load run on, stops
// it, and holds every transaction sent under the schedule to the accounting rules.

export interface ScheduleContext {
  readonly devnet: FaultDevnet;
  /** Waits while the load goes on. */
  sleep(ms: number): Promise<void>;
  /** A line for the run's log. */
  note(line: string): void;
  /** Validators already computing wrong BankHashes (by genesis name), with the first wrong slot. */
  readonly wrong: ReadonlyMap<string, number>;
}

/** Validators a schedule makes compute wrong BankHashes on purpose, from a slot on. */
export interface WrongBankHashes {
  readonly validators: readonly string[];
  readonly fromSlot: number;
}

export interface Schedule {
  /** The name `SIMD23_FAULTS` selects it by. */
  readonly id: string;
  /** What it does, for the table. */
  readonly name: string;
  /** The role or server it covers. */
  readonly covers: string;
  /**
   * Which run includes it: `quick` is the README's test command (`SIMD23_FAULTS` unset), `standard`
   * adds every role and both servers (`SIMD23_FAULTS=standard`), `extended` the rest (`SIMD23_FAULTS=all`).
   */
  readonly tier: "quick" | "standard" | "extended";
  /** What surviving it proves (docs/reliability.md). */
  readonly proves: string;
  /** Applies the fault and resolves once it is over; returns the validators it made wrong, if any. */
  apply(context: ScheduleContext): Promise<WrongBankHashes | undefined>;
  /** A halt is the expected outcome (the run's last schedule). */
  readonly halts?: boolean;
}

/** How long a killed replica or server stays down: more than a slot (400 ms), less than a proposer lease. */
const DOWN_MS = 2_000;
/** How long a paused process stays stopped: five slots. */
const PAUSE_MS = 2_000;
/** How late a delayed proposer's UserBlocks reach the validator: past the leader's recording grace. */
const USER_BLOCK_DELAY_MS = 600;

async function killAndRestart(context: ScheduleContext, name: string): Promise<undefined> {
  context.note(`kill -9 ${name}`);
  await context.devnet.kill(name);
  await context.sleep(DOWN_MS);
  await context.devnet.restart(name);
  context.note(`${name} restarted and healthy`);
  return undefined;
}

async function pauseAndResume(context: ScheduleContext, name: string): Promise<undefined> {
  const process = context.devnet.process(name);
  context.note(`SIGSTOP ${name}`);
  process.pause();
  try {
    await context.sleep(PAUSE_MS);
  } finally {
    process.resume();
  }
  context.note(`SIGCONT ${name}`);
  await process.waitHealthy(60_000);
  return undefined;
}

async function restartServer(context: ScheduleContext, which: "nats" | "redis"): Promise<undefined> {
  const server = which === "nats" ? context.devnet.nats : context.devnet.redis;
  context.note(`kill -9 ${server.kind}`);
  await server.kill();
  await context.sleep(DOWN_MS);
  await server.startAgain();
  context.note(`${server.kind} back on port ${server.port}`);
  await context.devnet.supervisor.waitHealthy(60_000);
  return undefined;
}

/** Restarts the given executors computing wrong BankHashes a few slots ahead (those already wrong stay as they are). */
async function wrongBankHashes(
  context: ScheduleContext,
  executors: readonly number[],
): Promise<WrongBankHashes> {
  const { genesis } = context.devnet;
  const fromSlot = slotAt(genesis.timing, Date.now()) + 10;
  const newlyWrong = executors.filter((i) => !context.wrong.has(genesis.validators[i]!.name));
  for (const i of newlyWrong) {
    context.note(`restart executor-${i} computing wrong BankHashes from slot ${fromSlot}`);
    await context.devnet.restart(`executor-${i}`, {
      SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT: String(fromSlot),
    });
  }
  // Until past the first wrong slot, with room for the verifier to see it.
  while (slotAt(genesis.timing, Date.now()) < fromSlot + 6) await context.sleep(200);
  return { validators: newlyWrong.map((i) => genesis.validators[i]!.name), fromSlot };
}

export const SCHEDULES: readonly Schedule[] = [
  {
    id: "kill-proposer",
    name: "kill -9 proposer-1",
    covers: "proposer",
    tier: "quick",
    proves:
      "what a proposer acknowledged is in INTAKE before the answer: the replica that takes its pool key (lease expiry, then adoption) proposes it; nothing it held is lost or proposed twice into execution",
    apply: (context) => killAndRestart(context, "proposer-1"),
  },
  {
    id: "kill-leader",
    name: "kill -9 the active leader",
    covers: "leader",
    tier: "quick",
    proves:
      "its slots are skipped or finished by the other leader; UserBlocks not recorded are proposed again; the restarted leader replays LEDGER and goes on",
    apply: async (context) => killAndRestart(context, await context.devnet.activeLeader()),
  },
  {
    id: "kill-executor",
    name: "kill -9 executor-2",
    covers: "executor",
    tier: "standard",
    proves:
      "it restarts from its bank snapshot and its newest vote, recomputes the same BankHashes (its reports match), and the other three keep voting and executing meanwhile",
    apply: (context) => killAndRestart(context, "executor-2"),
  },
  {
    id: "kill-aggregator",
    name: "kill -9 vote-aggregator-0",
    covers: "vote-aggregator",
    tier: "standard",
    proves:
      "levels live in the status index: the restarted aggregator replays the ledger and the verdicts and takes back no level it reported",
    apply: (context) => killAndRestart(context, "vote-aggregator-0"),
  },
  {
    id: "kill-verifier",
    name: "kill -9 bank-hash-verifier-0",
    covers: "bank-hash-verifier",
    tier: "standard",
    proves:
      "the restarted verifier replays and re-executes from genesis, tallies the same commitments and republishes verdicts without changing a result",
    apply: (context) => killAndRestart(context, "bank-hash-verifier-0"),
  },
  {
    id: "restart-nats",
    name: "kill -9 and restart NATS",
    covers: "NATS",
    tier: "standard",
    proves:
      "JetStream keeps every acknowledged message on disk; every role reconnects, re-creates nothing and resumes its durable consumers; publishes that failed are retried or refused, never half-acknowledged",
    apply: (context) => restartServer(context, "nats"),
  },
  {
    id: "restart-redis",
    name: "kill -9 and restart Redis",
    covers: "Redis",
    tier: "standard",
    proves:
      "leases, the status index and bank snapshots survive in Redis' append-only file; roles wait while it is away, and no status goes backwards",
    apply: (context) => restartServer(context, "redis"),
  },
  {
    id: "pause-leader",
    name: "SIGSTOP the active leader for 5 slots",
    covers: "leader",
    tier: "standard",
    proves:
      "a leader frozen past its slots resumes: blocks it missed are proposed again, its late PoH is caught up or its slots skipped",
    apply: async (context) => pauseAndResume(context, await context.devnet.activeLeader()),
  },
  {
    id: "userblocks-drop-delay",
    name: "executor-1 ignores proposer-0's UserBlocks, executor-2 sees proposer-1's 600 ms late",
    covers: "executor",
    tier: "standard",
    proves:
      "a validator that does not have a UserBlock repairs it (from the stream by hash, else from the proposer) and does not vote on its fork until it has it; late copies change nothing",
    apply: async (context) => {
      context.note("restart executor-1 ignoring proposer-0's UserBlocks, executor-2 delaying proposer-1's");
      await context.devnet.restart("executor-1", { SIMD23_FAULT_IGNORE_USER_BLOCKS_FROM: "proposer-0" });
      await context.devnet.restart("executor-2", {
        SIMD23_FAULT_DELAY_USER_BLOCKS_FROM: "proposer-1",
        SIMD23_FAULT_USER_BLOCK_DELAY_MS: String(USER_BLOCK_DELAY_MS),
      });
      await context.sleep(8_000);
      await context.devnet.restart("executor-1");
      await context.devnet.restart("executor-2");
      context.note("executor-1 and executor-2 restarted without faults");
      return undefined;
    },
  },
  {
    id: "pause-proposer",
    name: "SIGSTOP proposer-2 for 5 slots",
    covers: "proposer",
    tier: "extended",
    proves:
      "a frozen proposer's blocks come late and are refused; their items are proposed again; clients routed to it time out and go elsewhere",
    apply: (context) => pauseAndResume(context, "proposer-2"),
  },
  {
    id: "pause-executor",
    name: "SIGSTOP executor-0 for 5 slots",
    covers: "executor",
    tier: "extended",
    proves: "a frozen validator catches up: it replays what it missed and votes again",
    apply: (context) => pauseAndResume(context, "executor-0"),
  },
  {
    id: "pause-aggregator",
    name: "SIGSTOP vote-aggregator-0 for 5 slots",
    covers: "vote-aggregator",
    tier: "extended",
    proves: "subscribers and polls wait; no level is lost or reordered when it resumes",
    apply: (context) => pauseAndResume(context, "vote-aggregator-0"),
  },
  {
    id: "kill-two-proposers",
    name: "kill -9 proposer-0 and proposer-2 together",
    covers: "proposer",
    tier: "extended",
    proves: "one proposer left takes both pool keys' pending intake",
    apply: async (context) => {
      context.note("kill -9 proposer-0 and proposer-2");
      await Promise.all([context.devnet.kill("proposer-0"), context.devnet.kill("proposer-2")]);
      await context.sleep(DOWN_MS);
      await Promise.all([context.devnet.restart("proposer-0"), context.devnet.restart("proposer-2")]);
      return undefined;
    },
  },
  {
    id: "wrong-bankhash-25",
    name: "executor-3 computes wrong BankHashes (25% of stake)",
    covers: "bank-hash-verifier",
    tier: "extended",
    proves:
      "a wrong minority is named and its slots are dead for it; no halt; every honest validator still matches",
    apply: (context) => wrongBankHashes(context, [3]),
  },
  {
    id: "wrong-bankhash-50",
    name: "executor-2 and executor-3 compute wrong BankHashes (50%)",
    covers: "bank-hash-verifier",
    tier: "extended",
    halts: true,
    proves: "more than 1/3 of stake wrong halts the cluster at that slot, and every role stops producing",
    apply: (context) => wrongBankHashes(context, [2, 3]),
  },
];

/**
 * The schedules `SIMD23_FAULTS` asks for: unset the quick ones, `standard` every role and both
 * servers, `all` every one, or ids separated by commas.
 */
export function selectSchedules(selection: string | undefined): Schedule[] {
  if (selection === undefined || selection === "") return SCHEDULES.filter((s) => s.tier === "quick");
  if (selection === "standard") return SCHEDULES.filter((s) => s.tier !== "extended");
  if (selection === "all") return [...SCHEDULES];
  const ids = selection.split(",").map((id) => id.trim());
  const unknown = ids.filter((id) => !SCHEDULES.some((s) => s.id === id));
  if (unknown.length > 0)
    throw new Error(
      `SIMD23_FAULTS: unknown schedule ${unknown.join(", ")} (known: ${SCHEDULES.map((s) => s.id).join(", ")})`,
    );
  // A halt ends the devnet: it runs last whatever the order given.
  return SCHEDULES.filter((s) => ids.includes(s.id)).sort(
    (a, b) => Number(a.halts ?? false) - Number(b.halts ?? false),
  );
}
