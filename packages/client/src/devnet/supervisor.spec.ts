import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestnetGenesis, genesisToJson } from "@simd23/core";
import { afterAll, describe, expect, it } from "vitest";
import { connect } from "../client.js";
import { generateKeypair } from "../keys.js";
import { loadDevnet } from "./connect.js";
import { readDevnetFile } from "./file.js";
import { DevnetSupervisor, logTail } from "./supervisor.js";

const directory = mkdtempSync(join(tmpdir(), "simd23-supervisor-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe("log tails", () => {
  it("shortens JSON log lines to level, message and error, and keeps other lines", () => {
    const path = join(directory, "role.log");
    writeFileSync(
      path,
      [
        JSON.stringify({ level: "info", time: "t", msg: "service starting" }),
        "a plain line",
        JSON.stringify({ level: "fatal", msg: "startup failed", err: { message: "NATS refused" } }),
        JSON.stringify({ no: "message" }),
        "",
      ].join("\n"),
    );
    expect(logTail(path, 3)).toEqual([
      "a plain line",
      "fatal startup failed: NATS refused",
      '{"no":"message"}',
    ]);
    expect(logTail(join(directory, "absent.log"))).toEqual([]);
  });
});

describe("an embedded devnet", () => {
  it("runs every role in this process, executes a transfer, scales proposers, restarts a replica and stops clean", async () => {
    const clusterSeed = randomBytes(32);
    const namespace = `sup-${randomBytes(4).toString("hex")}`;
    const genesis = createTestnetGenesis({
      clusterName: namespace,
      clusterSeed,
      startTimeMs: BigInt(Date.now() + 2_000),
      validators: 3,
      leaders: 1,
      proposerPool: 4,
      timing: {
        slotDurationMs: 200,
        ticksPerSlot: 16,
        hashesPerTick: 2_000,
        proposerHashesPerTick: 200,
        graceTicks: 2,
        slotsPerLeaderWindow: 2,
        membershipDelaySlots: 2,
        proposerEvictionUserBlockSlots: 6,
        maxLockoutHistory: 8,
        slotsPerEpoch: 1_024,
      },
    });
    const home = join(directory, namespace);
    const genesisPath = join(home, "genesis.json");
    const devnetFilePath = join(home, "devnet.json");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(home, { recursive: true });
    writeFileSync(genesisPath, genesisToJson(genesis));

    const unexpected: string[] = [];
    const supervisor = await DevnetSupervisor.start(
      {
        devnetFilePath,
        genesisPath,
        clusterName: namespace,
        clusterSeed,
        namespace,
        proposerPool: 4,
        sizes: { executors: 3, leaders: 1, proposers: 1 },
        backend: { kind: "embedded", reason: "test" },
        logDir: join(home, "logs"),
        logLevel: "warn",
      },
      { onUnexpectedExit: (name) => unexpected.push(name) },
    );
    try {
      expect(supervisor.embedded).toBe(true);
      await supervisor.waitHealthy(30_000);
      const file = readDevnetFile(devnetFilePath);
      expect(file).toMatchObject({ namespace, bus: "embedded", store: "embedded", pid: process.pid });
      expect(file.executors.map((e) => e.name)).toEqual(["executor-0", "executor-1", "executor-2"]);
      expect(new Set([...file.proposers, ...file.executors, ...file.leaders].map((p) => p.pid))).toEqual(
        new Set([process.pid]),
      );
      expect(supervisor.statusTargets().voteAggregator?.name).toBe("vote-aggregator-0");

      // The SDK finds it through the devnet file and a faucet transfer executes.
      const devnet = loadDevnet(devnetFilePath);
      const client = connect(devnet.options);
      try {
        const sent = await client.transfer({
          from: devnet.faucet,
          to: generateKeypair().publicKey,
          lamports: 7,
        });
        const status = await client.confirm(sent.signature, "executed", { timeoutMs: 30_000 });
        expect(status.result?.ok).toBe(true);
      } finally {
        client.close();
      }

      expect(await supervisor.scaleProposers(2, 30_000)).toEqual({ added: ["proposer-1"], removed: [] });
      expect(readDevnetFile(devnetFilePath).proposers.map((p) => p.name)).toEqual([
        "proposer-0",
        "proposer-1",
      ]);
      await expect(supervisor.scaleProposers(5, 1_000)).rejects.toThrow(/expected 1 to 4/);

      const before = supervisor.get("executor-2")!.grpcAddress;
      expect(await supervisor.restart("executor-2", { SIMD23_FAULT_WITHHOLD_VOTES: "true" }, 30_000)).toEqual(
        { code: 0, readiness: "healthy" },
      );
      expect(supervisor.get("executor-2")!.grpcAddress).toBe(before);
      expect(supervisor.get("executor-2")!.extraEnv.SIMD23_FAULT_WITHHOLD_VOTES).toBe("true");
      await expect(supervisor.restart("executor-9", {}, 1_000)).rejects.toThrow(
        /no replica named executor-9/,
      );

      expect(await supervisor.scaleProposers(1, 30_000)).toEqual({
        added: [],
        removed: [{ name: "proposer-1", code: 0 }],
      });
    } finally {
      const report = await supervisor.stop();
      expect(report.exits.map((e) => e.code)).toEqual(report.exits.map(() => 0));
      expect(report.exits).toHaveLength(7);
    }
    expect(existsSync(devnetFilePath)).toBe(false);
    expect(unexpected).toEqual([]);
  }, 60_000);
});
