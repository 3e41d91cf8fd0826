import { describe, expect, it } from "vitest";
import type { LoadReport } from "../../load/generator.js";
import { progressBar, progressLine, reportLines } from "./load.js";

describe("load output", () => {
  it("draws a progress bar of fixed width", () => {
    expect(progressBar(0, 10)).toBe("[          ]");
    expect(progressBar(0.5, 10)).toBe("[=====>    ]");
    expect(progressBar(1, 10)).toBe("[==========]");
    expect(progressBar(2, 10)).toBe("[==========]");
    const reached = { received: 5, proposed: 4, recorded: 3, optimistic: 2, executed: 1, finalized: 0 };
    expect(
      progressLine({
        phase: "sending",
        elapsedMs: 1_500,
        planned: 10,
        sent: 5,
        accepted: 5,
        rejected: 0,
        failed: 0,
        reached,
        dropped: 0,
      }),
    ).toMatch(/^\[=+> *\] 5\/10 sent in 1\.5 s {2}accepted 5 .* executed 1 {2}finalized 0/);
  });

  it("tabulates each level and lists every transaction that never executed", () => {
    const summary = (count: number) => ({
      count,
      p50Ms: count ? 100 : null,
      p99Ms: count ? 12_000 : null,
      maxMs: null,
    });
    const report: LoadReport = {
      rate: 100,
      durationMs: 1_000,
      planned: 100,
      sent: 100,
      accepted: 98,
      rejected: { QUEUE_FULL: 2 },
      failed: {},
      sendDurationMs: 1_000,
      acceptedPerSecond: 98,
      levels: {
        received: summary(98),
        proposed: summary(98),
        recorded: summary(97),
        optimistic: summary(97),
        executed: summary(96),
        finalized: summary(0),
      },
      dropped: { "blockhash expired": 1 },
      results: { ok: 95, InsufficientFunds: 1 },
      notExecuted: [
        { signature: "SigA", level: "dropped", droppedReason: "blockhash expired" },
        { signature: "SigB", level: "optimistic", droppedReason: null },
      ],
      payers: [],
    };
    const lines = reportLines(report);
    expect(lines[0]).toBe("sent 100 of 100 planned in 1.0 s: accepted 98 (98.0/s against a target of 100/s)");
    expect(lines).toContain("rejected: QUEUE_FULL 2");
    expect(lines.find((l) => l.startsWith("executed"))).toMatch(/^executed +96 +98\.0% +100 ms +12\.0 s$/);
    expect(lines.find((l) => l.startsWith("finalized"))).toMatch(/^finalized +0 +0\.0% +- +-$/);
    expect(lines).toContain("results: ok 95, InsufficientFunds 1");
    expect(lines.slice(-3)).toEqual([
      "2 accepted transactions never reached executed:",
      "  SigA  dropped (blockhash expired)",
      "  SigB  optimistic",
    ]);
  });
});
