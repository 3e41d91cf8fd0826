import { status } from "@grpc/grpc-js";
import { bytesEqual, encodeKey, type Keypair } from "@simd23/core";
import { tx, voteaggregator } from "@simd23/proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { connect, type Simd23Client } from "../client.js";
import { generateKeypair } from "../keys.js";
import {
  confirmLater,
  FakeAggregator,
  FakeExecutor,
  FakeProposer,
  type RunningServer,
  refusal,
  startGrpcServer,
} from "../private/test-cluster.js";
import { type LoadProgress, runLoad } from "./generator.js";

const L = voteaggregator.ConfirmationLevel;

let servers: RunningServer[];
let proposers: FakeProposer[];
let aggregator: FakeAggregator;
let executorNode: FakeExecutor;
let faucet: Keypair;
let client: Simd23Client;
/** Transfers the faucet signed: recipient and lamports. */
let airdrops: { to: string; lamports: bigint }[];

beforeEach(async () => {
  faucet = generateKeypair();
  airdrops = [];
  aggregator = new FakeAggregator();
  executorNode = new FakeExecutor(new Uint8Array(32).fill(1));
  executorNode.balances.set(encodeKey(faucet.publicKey), 10n ** 15n);
  const identities = [generateKeypair(), generateKeypair()];
  proposers = identities.map(
    (identity) => new FakeProposer(identity, () => identities.map((k) => k.publicKey)),
  );
  servers = [
    await startGrpcServer([aggregator.service]),
    await startGrpcServer([executorNode.service]),
    ...(await Promise.all(proposers.map((p) => startGrpcServer([p.service])))),
  ];
  client = connect({
    proposers: servers.slice(2).map((s) => s.address),
    voteAggregator: servers[0]!.address,
    executors: [servers[1]!.address],
    faucet,
    sendAttempts: 1,
    pollIntervalMs: 200,
  });
});

afterEach(async () => {
  client.close();
  await Promise.all(servers.map((s) => s.close()));
});

/** Confirms the faucet's transfers; load transactions as `decide` says (by their order of arrival). */
function behave(decide: (n: number) => "confirm" | "stall" | "refuse") {
  let n = 0;
  for (const proposer of proposers)
    proposer.behaviour = ([transaction]) => {
      const message = tx.TransactionMessage.decode(transaction!.message);
      if (bytesEqual(message.signers[0]!, faucet.publicKey)) {
        const transfer = message.instructions[0]!.kind;
        if (transfer?.$case === "transfer")
          airdrops.push({ to: encodeKey(transfer.value.to), lamports: transfer.value.lamports });
        confirmLater(aggregator, transaction!, proposer.identity.publicKey, { stepMs: 1 });
        return undefined;
      }
      const decision = decide(n++);
      if (decision === "refuse") return refusal(status.RESOURCE_EXHAUSTED, "QUEUE_FULL", "queue full");
      confirmLater(aggregator, transaction!, proposer.identity.publicKey, {
        stepMs: 2,
        ...(decision === "stall" ? { until: L.CONFIRMATION_LEVEL_RECORDED } : {}),
      });
      return undefined;
    };
}

describe("the load generator", () => {
  it("funds its payers, sends rate × duration, and reports every level, refusal and unexecuted transaction", async () => {
    behave((n) => (n % 10 === 3 ? "refuse" : n % 10 === 7 ? "stall" : "confirm"));
    const phases = new Set<string>();
    const report = await runLoad(client, {
      rate: 200,
      durationMs: 500,
      payers: 4,
      until: "finalized",
      settleTimeoutMs: 1_500,
      progressIntervalMs: 50,
      onProgress: (p: LoadProgress) => phases.add(p.phase),
    });

    expect(report.planned).toBe(100);
    expect(report.sent).toBe(100);
    expect(report.rejected).toEqual({ QUEUE_FULL: 10 });
    expect(report.accepted).toBe(90);
    expect(report.failed).toEqual({});
    expect(report.levels.received.count).toBe(90);
    expect(report.levels.recorded.count).toBe(90);
    expect(report.levels.optimistic.count).toBe(80);
    expect(report.levels.executed.count).toBe(80);
    expect(report.levels.finalized.count).toBe(80);
    expect(report.results).toEqual({ ok: 80 });
    expect(report.notExecuted).toHaveLength(10);
    expect(report.notExecuted.every((t) => t.level === "recorded" && t.droppedReason === null)).toBe(true);
    for (const level of ["received", "executed", "finalized"] as const) {
      const summary = report.levels[level];
      expect(summary.p50Ms).not.toBeNull();
      expect(summary.p50Ms!).toBeLessThanOrEqual(summary.p99Ms!);
      expect(summary.p99Ms!).toBeLessThanOrEqual(summary.maxMs!);
    }
    expect(report.levels.executed.p50Ms!).toBeGreaterThanOrEqual(report.levels.received.p50Ms!);
    expect([...phases]).toEqual(["funding", "sending", "settling"]);

    // Each payer got exactly its share of the cost: 25 transactions of a 5,000-lamport fee and 1 lamport.
    expect(airdrops).toHaveLength(4);
    expect(new Set(airdrops.map((a) => a.to))).toEqual(new Set(report.payers));
    expect(airdrops.every((a) => a.lamports === 25n * 5_001n)).toBe(true);
  });

  it("reports drops with their reason", async () => {
    let n = 0;
    for (const proposer of proposers)
      proposer.behaviour = ([transaction]) => {
        const signature = transaction!.signatures[0]!;
        if (n++ % 2 === 0) confirmLater(aggregator, transaction!, proposer.identity.publicKey, { stepMs: 1 });
        else {
          aggregator.reach(signature, { level: L.CONFIRMATION_LEVEL_RECEIVED, timeMs: Date.now() });
          aggregator.reach(signature, {
            level: L.CONFIRMATION_LEVEL_DROPPED,
            timeMs: Date.now(),
            droppedReason: "blockhash expired",
          });
        }
        return undefined;
      };
    const payers = [generateKeypair(), generateKeypair()];
    const report = await runLoad(client, {
      rate: 100,
      durationMs: 200,
      payerKeypairs: payers,
      until: "executed",
      settleTimeoutMs: 2_000,
    });
    expect(report.planned).toBe(20);
    expect(report.dropped).toEqual({ "blockhash expired": 10 });
    expect(report.notExecuted).toHaveLength(10);
    expect(
      report.notExecuted.every((t) => t.level === "dropped" && t.droppedReason === "blockhash expired"),
    ).toBe(true);
    expect(report.levels.executed.count).toBe(10);
    expect(report.payers).toEqual(payers.map((p) => encodeKey(p.publicKey)));
  });

  it("stops sending when aborted and still reports what it sent", async () => {
    behave(() => "confirm");
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    const report = await runLoad(client, {
      rate: 50,
      durationMs: 10_000,
      payerKeypairs: [generateKeypair()],
      until: "executed",
      settleTimeoutMs: 2_000,
      signal: abort.signal,
    });
    expect(report.planned).toBe(500);
    expect(report.sent).toBeGreaterThan(0);
    expect(report.sent).toBeLessThan(100);
    expect(report.levels.executed.count).toBe(report.accepted);
    expect(report.notExecuted).toEqual([]);
  });

  it("refuses options it cannot run", async () => {
    await expect(runLoad(client, { rate: 0, durationMs: 100 })).rejects.toThrow(
      /rate must be a positive number/,
    );
    await expect(runLoad(client, { rate: 1, durationMs: 0 })).rejects.toThrow(/duration/);
    behave(() => "confirm");
    const noFaucet = connect({
      proposers: servers.slice(2).map((s) => s.address),
      voteAggregator: servers[0]!.address,
    });
    try {
      await expect(runLoad(noFaucet, { rate: 1, durationMs: 1_000 })).rejects.toThrow(/no faucet key/);
    } finally {
      noFaucet.close();
    }
  });
});
