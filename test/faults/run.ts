import { EnvelopeKind, encodeKey, type Keypair, openEnvelope, toHex, VerdictLevel } from "@simd23/core";
import { control } from "@simd23/proto";
import { subjects } from "@simd23/runtime";
import { executionStatusName, type TransactionStatus } from "../../packages/client/src/status.js";
import { BankHashVerifierClient } from "../../services/bank-hash-verifier/src/client.js";
import { ExecutorClient } from "../../services/executor/src/client.js";
import {
  type AccountingInput,
  accountSchedule,
  type ChainResult,
  checkAgreement,
  type ScheduleAccount,
  type TallyRow,
} from "./accounting.js";
import type { FaultDevnet } from "./devnet.js";
import { LevelMonitor } from "./level-monitor.js";
import type { Schedule, ScheduleContext } from "./schedules.js";
import { fundPayers, SteadyLoad } from "./steady-load.js";

// Runs the chosen schedules one at a time against one devnet under the steady load, then collects
// everything the accounting checker needs: final statuses, the finalized chain's results, every
// slot's tally and the payers' balances on every executor.

export interface RunOptions {
  /** Transactions per second of the steady load. */
  readonly rate: number;
  readonly payers: number;
  /** Load before the fault, and after it is over, ms. */
  readonly leadMs: number;
  readonly tailMs: number;
  /** How long a schedule's acknowledged transactions get to reach a terminal status, ms. */
  readonly settleMs: number;
  readonly log: (line: string) => void;
}

export interface ScheduleOutcome {
  readonly schedule: Schedule;
  readonly ms: number;
  /** Until every acknowledged transaction of the schedule was terminal (or the settle time ran out), ms. */
  readonly settledMs: number;
  readonly halted: boolean;
}

export interface RunReport {
  readonly outcomes: readonly ScheduleOutcome[];
  readonly accounts: readonly ScheduleAccount[];
  /** Honest validators that did not agree, finalized slots without a full tally. */
  readonly agreementProblems: readonly string[];
  /** Finalized slots whose verdicts were published twice with different results. */
  readonly verdictConflicts: readonly string[];
  /** Executors whose payer balances differ from the finalized chain's fees. */
  readonly balanceProblems: readonly string[];
  readonly finalizedSlots: number;
  readonly tallied: number;
  /** The halt the verifier published, if any: its slot and the validators named. */
  readonly halt: { readonly slot: number; readonly validators: readonly string[] } | undefined;
  /** Validators made wrong on purpose, with their first wrong slot. */
  readonly wrong: ReadonlyMap<string, number>;
  readonly unexpectedExits: readonly string[];
  readonly monitor: { readonly updates: number; readonly polls: number; readonly failedPolls: number };
}

const FUNDING_LAMPORTS = 1_000_000_000n;
const POLL_INTERVAL_MS = 1_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runSchedules(
  devnet: FaultDevnet,
  schedules: readonly Schedule[],
  options: RunOptions,
): Promise<RunReport> {
  const { client, genesis } = devnet;
  const started = Date.now();
  const payers: Keypair[] = await fundPayers(client, options.payers, FUNDING_LAMPORTS, Date.now() + 90_000);
  options.log(`funded ${payers.length} fee payers in ${Date.now() - started} ms`);
  const load = new SteadyLoad(client, payers, { rate: options.rate, maxInFlight: 4 * options.rate });
  const acknowledged = (signature: string) => load.sent.get(signature)?.outcome.kind === "acknowledged";
  const monitor = new LevelMonitor(client, acknowledged);
  const terminal = (signature: string): boolean => {
    const status = monitor.latest.get(signature);
    return status !== undefined && (status.droppedReason !== null || status.result !== null);
  };
  monitor.start();
  await load.start();

  // Every second: every acknowledged transaction not yet finalized or dropped.
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const open = [...load.sent.values()]
        .filter((t) => t.outcome.kind === "acknowledged")
        .map((t) => t.signature)
        .filter((s) => {
          const status = monitor.latest.get(s);
          return (
            status === undefined || (status.droppedReason === null && status.levels.finalized === undefined)
          );
        });
      await monitor.poll(open);
      await sleep(POLL_INTERVAL_MS);
    }
  })();

  const wrong = new Map<string, number>();
  const outcomes: ScheduleOutcome[] = [];
  try {
    for (const schedule of schedules) {
      const scheduleStart = Date.now();
      const context: ScheduleContext = {
        devnet,
        sleep,
        note: (line) => options.log(`  [${schedule.id}] +${Date.now() - scheduleStart} ms ${line}`),
        wrong,
      };
      options.log(`schedule ${schedule.id}: ${schedule.name}`);
      load.resume(schedule.name);
      await sleep(options.leadMs);
      const madeWrong = await schedule.apply(context);
      if (madeWrong !== undefined) for (const v of madeWrong.validators) wrong.set(v, madeWrong.fromSlot);
      await sleep(options.tailMs);
      await load.pause();
      const sentHere = load.of(schedule.name);
      context.note(
        `load paused: ${sentHere.length} sent, ${sentHere.filter((t) => t.outcome.kind === "acknowledged").length} acknowledged`,
      );
      let halted = false;
      const settleStart = Date.now();
      if (schedule.halts) {
        halted = await waitForHalt(devnet, options.settleMs);
        context.note(halted ? "the verifier halted the cluster" : "NO HALT");
        // What was executed before the halt settles; what was not stays where the halt froze it.
        await sleep(3_000);
        await monitor.poll(sentHere.map((t) => t.signature));
      } else {
        const deadline = Date.now() + options.settleMs;
        for (;;) {
          const open = sentHere.filter((t) => acknowledged(t.signature) && !terminal(t.signature));
          if (open.length === 0 || Date.now() > deadline) {
            if (open.length > 0)
              context.note(`${open.length} still not terminal when the settle time ran out`);
            break;
          }
          await sleep(500);
        }
        await devnet.supervisor.waitHealthy(60_000);
      }
      outcomes.push({
        schedule,
        ms: Date.now() - scheduleStart,
        settledMs: Date.now() - settleStart,
        halted,
      });
      context.note(`done in ${Date.now() - scheduleStart} ms (settled in ${Date.now() - settleStart} ms)`);
      // Every acknowledged transaction so far, once more: a fault may have taken back an old level.
      await monitor.poll(
        [...load.sent.values()].filter((t) => t.outcome.kind === "acknowledged").map((t) => t.signature),
      );
    }
  } finally {
    polling = false;
    await poller;
    await load.stop();
  }

  const halt = await haltOf(devnet);
  const sent = [...load.sent.values()];
  const ackedSignatures = sent.filter((t) => t.outcome.kind === "acknowledged").map((t) => t.signature);
  // Until the newest slot that executed one of ours is finalized (skipped after a halt: nothing finalizes).
  const newestResultSlot = Math.max(
    0,
    ...ackedSignatures.map((s) => monitor.latest.get(s)?.result?.slot ?? 0),
  );
  // The chain is read from the verifier's FINALIZED verdicts, which follow the cluster's root: wait
  // for those, not for the aggregator's view of it.
  let read = await finalizedChain(devnet);
  if (halt === undefined) {
    const deadline = Date.now() + 60_000;
    while (Math.max(0, ...read.finalized) < newestResultSlot && Date.now() < deadline) {
      await sleep(1_000);
      read = await finalizedChain(devnet);
    }
  }
  await monitor.poll(ackedSignatures);
  await monitor.stop();

  const { chain, finalized, verdictConflicts } = read;
  const tallies = await tallyRows(devnet);
  const stakeByName = new Map(genesis.validators.map((v) => [v.name, v.stake]));
  const agreementProblems = checkAgreement(
    tallies,
    finalized,
    (name) => stakeByName.get(name) ?? 0n,
    (slot) => new Set([...wrong].filter(([, from]) => slot >= from).map(([name]) => name)),
  );
  const balanceProblems =
    halt === undefined ? await checkBalances(devnet, payers, sent, chain, FUNDING_LAMPORTS) : [];

  const input: AccountingInput = {
    sent,
    statuses: new Map(
      ackedSignatures.flatMap((s): [string, TransactionStatus][] => {
        const status = monitor.latest.get(s);
        return status === undefined ? [] : [[s, status]];
      }),
    ),
    chain,
    newestFinalizedSlot: Math.max(0, ...finalized),
    violations: monitor.violations,
  };
  return {
    outcomes,
    accounts: outcomes.map((o) => accountSchedule(o.schedule.name, input, o.halted)),
    agreementProblems,
    verdictConflicts,
    balanceProblems,
    finalizedSlots: finalized.size,
    tallied: tallies.filter((t) => t.known).length,
    halt,
    wrong,
    unexpectedExits: [...devnet.unexpectedExits],
    monitor: { updates: monitor.updates, polls: monitor.polls, failedPolls: monitor.failedPolls },
  };
}

async function waitForHalt(devnet: FaultDevnet, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await devnet.client.getVerifierStatus().catch(() => undefined);
    if (status?.halted) return true;
    await sleep(500);
  }
  return false;
}

async function haltOf(devnet: FaultDevnet): Promise<RunReport["halt"]> {
  const status = await devnet.client.getVerifierStatus();
  const halt = status.halt;
  if (!status.halted || halt === null) return undefined;
  const names = new Map(devnet.genesis.validators.map((v) => [encodeKey(v.identity), v.name]));
  return {
    slot: halt.slot,
    validators: halt.mismatchedValidators.map((v) => names.get(v) ?? v),
  };
}

/**
 * The transaction results of every finalized slot, from the verifier's verdicts on BANKHASHES: a
 * slot's results travel in its EXECUTED verdict, and its FINALIZED verdict says it is on the
 * rooted chain.
 */
async function finalizedChain(devnet: FaultDevnet): Promise<{
  chain: Map<string, ChainResult[]>;
  finalized: Set<number>;
  verdictConflicts: string[];
}> {
  const executed = new Map<number, { fingerprint: string; results: control.TransactionResult[] }>();
  const finalized = new Set<number>();
  const verdictConflicts: string[] = [];
  const replay = devnet.bus.replay({
    stream: "BANKHASHES",
    filterSubjects: [subjects.verdicts],
    start: "all",
    stopAtEnd: true,
  });
  for await (const message of replay) {
    const opened = openEnvelope(devnet.genesis, message.data, EnvelopeKind.KIND_SLOT_VERDICT);
    if (!opened.ok) throw new Error(`a verdict on BANKHASHES does not open: ${opened.error.message}`);
    const verdict = control.SlotVerdict.decode(opened.envelope.body);
    if (verdict.level === VerdictLevel.VERDICT_LEVEL_FINALIZED) {
      finalized.add(verdict.slot);
      continue;
    }
    // The verifier republishes after a restart: the same slot must carry the same results.
    const fingerprint = verdict.results.map((r) => `${toHex(r.signature)}:${r.status}:${r.fee}`).join(",");
    const seen = executed.get(verdict.slot);
    if (seen === undefined) executed.set(verdict.slot, { fingerprint, results: verdict.results });
    else if (seen.fingerprint !== fingerprint)
      verdictConflicts.push(`slot ${verdict.slot}: two EXECUTED verdicts with different results`);
  }
  const chain = new Map<string, ChainResult[]>();
  for (const slot of finalized) {
    const verdict = executed.get(slot);
    if (verdict === undefined) {
      verdictConflicts.push(`slot ${slot}: FINALIZED without an EXECUTED verdict`);
      continue;
    }
    for (const result of verdict.results) {
      const signature = encodeKey(result.signature);
      const list = chain.get(signature) ?? [];
      list.push({ slot, status: executionStatusName(result.status), fee: result.fee });
      chain.set(signature, list);
    }
  }
  return { chain, finalized, verdictConflicts };
}

/** Every slot's tally from the verifier, slot 1 to its newest executed slot. */
async function tallyRows(devnet: FaultDevnet): Promise<TallyRow[]> {
  const address = devnet.supervisor.get("bank-hash-verifier-0")!.grpcAddress;
  const verifier = new BankHashVerifierClient(address, 10_000);
  const names = new Map(devnet.genesis.validators.map((v) => [toHex(v.identity), v.name]));
  try {
    const { executedSlot } = await verifier.status();
    const rows: TallyRow[] = [];
    for (let slot = 1; slot <= executedSlot; slot++) {
      const answer = await verifier.slotTally(slot);
      rows.push({
        slot,
        known: answer.known,
        matched: answer.tally?.matched ?? 0n,
        mismatched: answer.tally?.mismatched ?? 0n,
        missing: answer.tally?.missing ?? 0n,
        total: answer.tally?.total ?? 0n,
        mismatchedValidators: answer.mismatchedValidators.map((v) => names.get(toHex(v)) ?? toHex(v)),
      });
    }
    return rows;
  } finally {
    verifier.close();
  }
}

/**
 * The payers pass lamports around a ring, so together they hold what they were funded with less
 * the fees the finalized chain charged them: every executor must show exactly that (a transaction
 * executed twice would be charged twice).
 */
async function checkBalances(
  devnet: FaultDevnet,
  payers: readonly Keypair[],
  sent: readonly { readonly signature: string }[],
  chain: ReadonlyMap<string, readonly ChainResult[]>,
  funding: bigint,
): Promise<string[]> {
  let fees = 0n;
  let newestSlot = 0;
  for (const { signature } of sent)
    for (const result of chain.get(signature) ?? []) {
      fees += result.fee;
      newestSlot = Math.max(newestSlot, result.slot);
    }
  const expected = funding * BigInt(payers.length) - fees;
  const problems: string[] = [];
  for (const replica of devnet.supervisor.list().filter((r) => r.options.role === "executor")) {
    const executor = new ExecutorClient(replica.grpcAddress, 10_000);
    try {
      const deadline = Date.now() + 30_000;
      let total = 0n;
      let slot = 0;
      do {
        const accounts = await Promise.all(payers.map((p) => executor.account(p.publicKey)));
        total = accounts.reduce((sum, a) => sum + a.lamports, 0n);
        slot = Math.min(...accounts.map((a) => a.slot));
        if (slot >= newestSlot && total === expected) break;
        await sleep(500);
      } while (Date.now() < deadline);
      if (total !== expected)
        problems.push(
          `${replica.name}: payers hold ${total} lamports at slot ${slot}, the finalized chain says ${expected}`,
        );
    } finally {
      executor.close();
    }
  }
  return problems;
}
