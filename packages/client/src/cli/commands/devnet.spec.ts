import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestnetGenesis, slotAt } from "@simd23/core";
import { afterAll, describe, expect, it } from "vitest";
import { DEVNET_TIMING } from "../../devnet/timing.js";
import { CliError } from "../errors.js";
import { FAULTS, parseEnvFlag, parseFaultFlag, prepareHome } from "./devnet.js";

const directory = mkdtempSync(join(tmpdir(), "simd23-devnet-cmd-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe("devnet command input", () => {
  it("takes a home it can write, creating it, and refuses one it cannot", () => {
    const home = join(directory, "a", "b");
    expect(prepareHome(home)).toBe(home);
    expect(statSync(home).isDirectory()).toBe(true);
    const file = join(directory, "file");
    writeFileSync(file, "");
    expect(() => prepareHome(file)).toThrow(CliError);
    expect(() => prepareHome(file)).toThrow(/--home: cannot write to .*file: (ENOTDIR|EEXIST)/);
    expect(() => prepareHome(join(file, "below"))).toThrow(/ENOTDIR/);
  });

  it("reads faults as <replica>=<fault>, checking the fault exists and fits the role", () => {
    expect(parseFaultFlag("executor-3=wrong-bank-hash")).toEqual({
      replica: "executor-3",
      fault: "wrong-bank-hash",
    });
    expect(parseFaultFlag("proposer-0=equivocate")).toEqual({ replica: "proposer-0", fault: "equivocate" });
    expect(() => parseFaultFlag("executor-3")).toThrow(/expected <replica>=<fault>/);
    expect(() => parseFaultFlag("leader-0=withhold-votes")).toThrow(/expected <replica>=<fault>/);
    expect(() => parseFaultFlag("executor-1=melt")).toThrow(/unknown fault "melt" \(known: wrong-bank-hash/);
    expect(() => parseFaultFlag("executor-1=equivocate")).toThrow(/applies to proposers, not executor-1/);
  });

  it("reads SIMD23_ environment variables for a restart", () => {
    expect(parseEnvFlag("SIMD23_FAULT_USER_BLOCK_DELAY_MS=300")).toEqual([
      "SIMD23_FAULT_USER_BLOCK_DELAY_MS",
      "300",
    ]);
    expect(parseEnvFlag("SIMD23_X=")).toEqual(["SIMD23_X", ""]);
    expect(() => parseEnvFlag("PATH=/bin")).toThrow(/expected SIMD23_NAME=value/);
    expect(() => parseEnvFlag("SIMD23_X")).toThrow(/expected SIMD23_NAME=value/);
  });

  it("switches faults on with the services' variables; a wrong BankHash starts a few slots ahead", () => {
    const genesis = createTestnetGenesis({
      clusterName: "t",
      clusterSeed: new Uint8Array(32),
      startTimeMs: 1_000_000n,
      validators: 4,
      proposerPool: 3,
      timing: DEVNET_TIMING,
    });
    const now = 1_000_000 + 100 * DEVNET_TIMING.slotDurationMs + 5;
    expect(slotAt(genesis.timing, now)).toBe(100);
    expect(FAULTS["wrong-bank-hash"]!.env(genesis.timing, now)).toEqual({
      SIMD23_FAULT_WRONG_BANK_HASH_FROM_SLOT: "110",
    });
    expect(FAULTS["withhold-votes"]!.env(genesis.timing, now)).toEqual({
      SIMD23_FAULT_WITHHOLD_VOTES: "true",
    });
    expect(FAULTS["withhold-blocks"]!.env(genesis.timing, now)).toEqual({
      SIMD23_FAULT_WITHHOLD_BLOCKS: "true",
    });
    expect(FAULTS.equivocate!.env(genesis.timing, now)).toEqual({ SIMD23_FAULT_EQUIVOCATE: "true" });
  });
});
