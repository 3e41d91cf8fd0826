import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestnetGenesis, encodeKey, genesisToJson, toHex } from "@simd23/core";
import { afterAll, describe, expect, it } from "vitest";
import { DevnetFileError } from "../errors.js";
import { loadDevnet } from "./connect.js";
import {
  type DevnetFile,
  defaultDevnetFilePath,
  devnetGenesisPath,
  isDevnetRunning,
  isEndpointAddress,
  parseDevnetFile,
  readDevnetFile,
  simd23Home,
  writeDevnetFile,
} from "./file.js";

const directory = mkdtempSync(join(tmpdir(), "simd23-devnet-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const SEED = "11".repeat(32);

function sampleFile(overrides: Partial<DevnetFile> = {}): DevnetFile {
  const role = (name: string, port: number) => ({
    name,
    address: `127.0.0.1:${port}`,
    pid: process.pid,
    metricsUrl: `http://127.0.0.1:${port + 1}/metrics`,
    logFile: `/tmp/${name}.log`,
  });
  return {
    version: 1,
    namespace: "devnet-test",
    clusterName: "devnet",
    clusterSeed: SEED,
    genesisPath: "genesis.json",
    pid: process.pid,
    startedAtMs: 1_700_000_000_000,
    bus: "nats://127.0.0.1:4222",
    store: "redis://127.0.0.1:6379",
    proposers: [role("proposer-0", 5000), role("proposer-1", 5002)],
    leaders: [role("leader-0", 5010)],
    executors: [role("executor-0", 5020), role("executor-1", 5022)],
    voteAggregators: [role("vote-aggregator-0", 5030)],
    bankHashVerifiers: [role("bank-hash-verifier-0", 5040)],
    ...overrides,
  };
}

describe("the devnet file", () => {
  it("round-trips through the writer and the reader, written atomically and private", () => {
    const path = join(directory, "rt", "devnet.json");
    const file = sampleFile();
    writeDevnetFile(path, file);
    expect(readDevnetFile(path)).toEqual(file);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(directory, "rt"))).toEqual(["devnet.json"]);
  });

  it("leaves optional fields out and resolves a relative genesis path against its folder", () => {
    const { bus: _bus, store: _store, ...rest } = sampleFile();
    const file: DevnetFile = {
      ...rest,
      proposers: [{ name: "proposer-0", address: "localhost:7000", pid: 1 }],
    };
    const path = join(directory, "min", "devnet.json");
    writeDevnetFile(path, file);
    const read = readDevnetFile(path);
    expect(read).toEqual(file);
    expect("bus" in read).toBe(false);
    expect(devnetGenesisPath(read, path)).toBe(join(directory, "min", "genesis.json"));
    expect(devnetGenesisPath({ ...read, genesisPath: "/abs/genesis.json" }, path)).toBe("/abs/genesis.json");
  });

  it("rejects a malformed file, naming the field", () => {
    const bad: [unknown, RegExp][] = [
      [[], /expected an object/],
      [{ ...sampleFile(), version: 2 }, /version: expected 1, got 2/],
      [{ ...sampleFile(), clusterSeed: "12" }, /clusterSeed: expected 64 hex characters/],
      [{ ...sampleFile(), proposers: "x" }, /proposers: expected an array/],
      [
        { ...sampleFile(), executors: [{ name: "e", address: "nope", pid: 1 }] },
        /executors\[0\].address: expected host:port/,
      ],
      [{ ...sampleFile(), leaders: [{ name: "l", address: "h:1", pid: -1 }] }, /leaders\[0\].pid/],
      [{ ...sampleFile(), namespace: "" }, /namespace: expected a non-empty string/],
    ];
    for (const [json, message] of bad) {
      expect(() => parseDevnetFile(json, "f.json")).toThrow(DevnetFileError);
      expect(() => parseDevnetFile(json, "f.json")).toThrow(message);
    }
    const path = join(directory, "broken.json");
    writeFileSync(path, "{");
    expect(() => readDevnetFile(path)).toThrow(/broken.json: not JSON/);
    expect(() => readDevnetFile(join(directory, "absent.json"))).toThrow(
      /no devnet file here: start a devnet/,
    );
    expect(() => writeDevnetFile(join(directory, "w.json"), { ...sampleFile(), clusterSeed: "x" })).toThrow(
      /clusterSeed/,
    );
    expect(existsSync(join(directory, "w.json"))).toBe(false);
  });

  it("lives in $SIMD23_HOME, else in .devnet at the repository root", () => {
    expect(defaultDevnetFilePath({ SIMD23_HOME: "/srv/simd23" })).toBe("/srv/simd23/devnet.json");
    expect(simd23Home({})).toMatch(/\/\.devnet$/);
    expect(existsSync(join(simd23Home({}), "..", "pnpm-workspace.yaml"))).toBe(true);
  });

  it("accepts host:port endpoints only", () => {
    for (const good of [
      "127.0.0.1:1",
      "localhost:65535",
      "[::1]:50051",
      "dns:///svc:80",
      "proposer-0.ns.svc:50051",
    ])
      expect(isEndpointAddress(good)).toBe(true);
    for (const bad of ["127.0.0.1", ":80", "host:0", "host:70000", "http://host:80", "host:port"])
      expect(isEndpointAddress(bad)).toBe(false);
  });

  it("knows whether the devnet that wrote it still runs", async () => {
    expect(isDevnetRunning(sampleFile())).toBe(true);
    const child = spawn(process.execPath, ["-e", ""]);
    const pid = child.pid!;
    await new Promise((resolve) => child.once("exit", resolve));
    expect(isDevnetRunning(sampleFile({ pid }))).toBe(false);
  });
});

describe("loading a devnet", () => {
  const seed = new Uint8Array(32).fill(0x11);
  const genesis = createTestnetGenesis({
    clusterName: "devnet",
    clusterSeed: seed,
    startTimeMs: 0n,
    validators: 2,
    proposerPool: 3,
    limits: { maxBundleTransactions: 3 },
  });

  function writeDevnet(name: string, file: DevnetFile): string {
    const folder = join(directory, name);
    const path = join(folder, "devnet.json");
    writeDevnetFile(path, file);
    writeFileSync(join(folder, "genesis.json"), genesisToJson(genesis));
    return path;
  }

  it("derives the faucet from the seed and takes limits and fees from the genesis", () => {
    const devnet = loadDevnet(writeDevnet("load", sampleFile()));
    expect(toHex(devnet.faucet.publicKey)).toBe(toHex(genesis.faucet));
    expect(devnet.options.proposers).toEqual(["127.0.0.1:5000", "127.0.0.1:5002"]);
    expect(devnet.options.executors).toEqual(["127.0.0.1:5020", "127.0.0.1:5022"]);
    expect(devnet.options.voteAggregator).toBe("127.0.0.1:5030");
    expect(devnet.options.bankHashVerifier).toBe("127.0.0.1:5040");
    expect(devnet.options.leaders).toEqual(["127.0.0.1:5010"]);
    expect(devnet.options.limits?.maxBundleTransactions).toBe(3);
    expect(devnet.options.fees).toEqual(genesis.fees);
  });

  it("refuses a devnet whose process is gone, and a seed that is not the genesis's", async () => {
    const child = spawn(process.execPath, ["-e", ""]);
    await new Promise((resolve) => child.once("exit", resolve));
    const stale = writeDevnet("stale", sampleFile({ pid: child.pid! }));
    expect(() => loadDevnet(stale)).toThrow(/not running \(process \d+ has exited\)/);
    const wrong = writeDevnet("wrong", sampleFile({ clusterSeed: "22".repeat(32) }));
    expect(() => loadDevnet(wrong)).toThrow(new RegExp(`names ${encodeKey(genesis.faucet)}`));
    const noGenesis = join(directory, "nogenesis", "devnet.json");
    writeDevnetFile(noGenesis, sampleFile());
    expect(() => loadDevnet(noGenesis)).toThrow(/cannot read the genesis: ENOENT/);
  });
});
