import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { formatAccounts } from "./accounting.js";
import { FaultDevnet } from "./devnet.js";
import { type RunReport, runSchedules } from "./run.js";
import { selectSchedules } from "./schedules.js";

// The fault suite: one devnet (every role as its own process, on a nats-server and a redis-server
// of its own) under a steady load, one fault schedule at a time, every transaction accounted for.
// SIMD23_FAULTS: unset runs the quick schedules (the README's test command), `standard` every role and
// both servers, `all` every schedule (the 25% and 50% wrong-BankHash ones too, the halt last), or ids
// separated by commas.
// SIMD23_FAULTS_REPORT=<path> writes the run's report as JSON; SIMD23_KEEP_E2E_LOGS keeps the logs.

const schedules = selectSchedules(process.env.SIMD23_FAULTS);
const RATE = Number(process.env.SIMD23_FAULTS_RATE ?? 40);
const REPORT = process.env.SIMD23_FAULTS_REPORT;
const KEEP_LOGS = process.env.SIMD23_KEEP_E2E_LOGS !== undefined;
// The suite's own switches: the role processes inherit this environment and would warn that nothing reads them.
for (const name of ["SIMD23_FAULTS", "SIMD23_FAULTS_RATE", "SIMD23_FAULTS_REPORT", "SIMD23_KEEP_E2E_LOGS"])
  delete process.env[name];
let devnet: FaultDevnet | undefined;

afterAll(async () => {
  if (KEEP_LOGS && devnet !== undefined) console.log(`fault suite logs: ${devnet.logDir}`);
  await devnet?.stop(KEEP_LOGS);
}, 60_000);

function summary(report: RunReport, ms: number): string {
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  return [
    `fault suite: ${report.outcomes.length} schedules in ${(ms / 1_000).toFixed(0)} s at ${RATE} tx/s on ${cpus().length} × ${cpu} (load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")})`,
    ...report.outcomes.map(
      (o) =>
        `  ${o.schedule.id}: ${(o.ms / 1_000).toFixed(1)} s, settled in ${(o.settledMs / 1_000).toFixed(1)} s`,
    ),
    formatAccounts(report.accounts),
    `finalized slots read: ${report.finalizedSlots}; slots tallied: ${report.tallied}; monitor: ${report.monitor.updates} stream updates, ${report.monitor.polls} polls (${report.monitor.failedPolls} failed while a fault lasted)`,
  ].join("\n");
}

describe("faults under load: nothing acknowledged is lost, nothing executes twice", () => {
  it(
    `${schedules.map((s) => s.id).join(", ")}`,
    async () => {
      const started = Date.now();
      devnet = await FaultDevnet.start();
      console.log(
        `devnet ${devnet.namespace} healthy after ${Date.now() - started} ms (NATS ${devnet.nats.url}, Redis ${devnet.redis.url})`,
      );
      const report = await runSchedules(devnet, schedules, {
        rate: RATE,
        payers: 8,
        leadMs: 3_000,
        tailMs: 3_000,
        settleMs: 60_000,
        log: (line) => console.log(line),
      });
      const text = summary(report, Date.now() - started);
      console.log(text);
      if (REPORT !== undefined)
        writeFileSync(
          REPORT,
          JSON.stringify(
            { ...report, wrong: Object.fromEntries(report.wrong), text },
            (_, value) => (typeof value === "bigint" ? value.toString() : value),
            2,
          ),
        );

      expect(report.unexpectedExits).toEqual([]);
      for (const account of report.accounts) {
        expect({ schedule: account.schedule, acknowledged: account.acknowledged > 0 }).toEqual({
          schedule: account.schedule,
          acknowledged: true,
        });
        // Counts, with the first few of each, so a failure names transactions without flooding the log.
        const few = <T>(list: readonly T[]) => ({ count: list.length, first: list.slice(0, 3) });
        expect({
          schedule: account.schedule,
          lost: few(account.lost),
          doublyExecuted: few(account.doublyExecuted),
          statusConflicts: few(account.statusConflicts),
          levelViolations: few(account.levelViolations),
        }).toEqual({
          schedule: account.schedule,
          lost: few([]),
          doublyExecuted: few([]),
          statusConflicts: few([]),
          levelViolations: few([]),
        });
      }
      expect(report.agreementProblems.slice(0, 5)).toEqual([]);
      expect(report.verdictConflicts.slice(0, 5)).toEqual([]);
      expect(report.balanceProblems).toEqual([]);
      // A halt exactly when more than 1/3 of stake is wrong: at the first slot where it is, naming them.
      const halting = report.outcomes.find((o) => o.schedule.halts);
      if (halting === undefined) expect(report.halt).toBeUndefined();
      else {
        expect(halting.halted).toBe(true);
        expect(report.halt?.slot).toBe(Math.max(...report.wrong.values()));
        expect([...(report.halt?.validators ?? [])].sort()).toEqual([...report.wrong.keys()].sort());
      }
    },
    90_000 + schedules.length * 90_000,
  );
});
