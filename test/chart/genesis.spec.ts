import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ciValues, find, PINNED, render, repoRoot } from "./helm.js";

// The built CLI, exactly as the image's init container runs it (`simd23 genesis --params … --out …`).
const cli = join(repoRoot, "packages/client/dist/cli/main.js");
const SEED = "5eed".repeat(16);

interface GenesisFile {
  clusterName: string;
  mode: string;
  timing: Record<string, string | number>;
  validators: { name: string; runsLeader: boolean }[];
  proposerPool: { name: string }[];
}

describe("the genesis init container's command on the chart's parameters", () => {
  const dir = mkdtempSync(join(tmpdir(), "simd23-chart-genesis-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function genesisOf(
    args: readonly string[],
    name: string,
  ): { params: Record<string, unknown>; text: string } {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: build first (pnpm build)`);
    const configMap = find(render([...PINNED, ...args]), "ConfigMap", "testnet-genesis");
    const paramsJson = (configMap.data as Record<string, string>)["params.json"] ?? "";
    const paramsPath = join(dir, `${name}.params.json`);
    writeFileSync(paramsPath, paramsJson);
    const out = join(dir, `${name}.genesis.json`);
    const result = spawnSync(process.execPath, [cli, "genesis", "--params", paramsPath, "--out", out], {
      encoding: "utf8",
      env: { ...process.env, SIMD23_CLUSTER_SEED: SEED },
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    return { params: JSON.parse(paramsJson) as Record<string, unknown>, text: readFileSync(out, "utf8") };
  }

  it("writes the genesis the default values describe", () => {
    const { text } = genesisOf([], "default");
    const genesis = JSON.parse(text) as GenesisFile;
    expect(genesis.clusterName).toBe("testnet");
    expect(genesis.mode).toBe("async");
    expect(genesis.validators.map((validator) => validator.name)).toEqual(
      [0, 1, 2, 3].map((i) => `validator-${i}`),
    );
    expect(genesis.validators.map((validator) => validator.runsLeader)).toEqual([true, false, false, false]);
    expect(genesis.proposerPool).toHaveLength(16);
    expect(String(genesis.timing.startTimeMs)).toBe("1767225600000");
  });

  it("writes the same genesis in every pod", () => {
    expect(genesisOf([], "first").text).toBe(genesisOf([], "second").text);
  });

  it("applies the replica counts, the pool size, the mode and the timing of the values", () => {
    const { text } = genesisOf(
      [
        "-f",
        ciValues().get("minimal") as string,
        "--set",
        "genesis.mode=sync",
        "--set",
        "executor.replicaCount=3",
        "--set",
        "leader.replicaCount=2",
        "--set",
        "genesis.clusterName=bench-1",
      ],
      "custom",
    );
    const genesis = JSON.parse(text) as GenesisFile;
    expect(genesis.clusterName).toBe("bench-1");
    expect(genesis.mode).toBe("sync");
    expect(genesis.validators.map((validator) => validator.runsLeader)).toEqual([true, true, false]);
    expect(genesis.proposerPool).toHaveLength(4);
    expect(Number(genesis.timing.slotDurationMs)).toBe(100);
    expect(Number(genesis.timing.hashesPerTick)).toBe(2500);
  });
});
