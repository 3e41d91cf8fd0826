import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestnetGenesis, encodeKey, genesisToJson, toHex } from "@simd23/core";
import { afterAll, describe, expect, it } from "vitest";
import { writeDevnetFile } from "../devnet/file.js";
import { generateKeypair, writeKeypairFile } from "../keys.js";
import { parseAccount, resolveConnection } from "./connection.js";

const directory = mkdtempSync(join(tmpdir(), "simd23-connection-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

const seed = new Uint8Array(32).fill(0x33);
const genesis = createTestnetGenesis({
  clusterName: "c",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 1,
  proposerPool: 1,
});
writeFileSync(join(directory, "genesis.json"), genesisToJson(genesis));
const entry = (name: string, address: string) => ({ name, address, pid: process.pid });
writeDevnetFile(join(directory, "devnet.json"), {
  version: 1,
  namespace: "ns",
  clusterName: "c",
  clusterSeed: toHex(seed),
  genesisPath: "genesis.json",
  pid: process.pid,
  startedAtMs: 0,
  proposers: [entry("proposer-0", "127.0.0.1:1001")],
  leaders: [],
  executors: [entry("executor-0", "127.0.0.1:1002")],
  voteAggregators: [entry("vote-aggregator-0", "127.0.0.1:1003")],
  bankHashVerifiers: [],
});
const env = { SIMD23_HOME: directory };

describe("finding the testnet", () => {
  it("reads the devnet file with no flags, and flags replace its endpoints role by role", () => {
    const plain = resolveConnection({ rpcTimeout: 100 }, env);
    expect(plain.options).toMatchObject({
      proposers: ["127.0.0.1:1001"],
      executors: ["127.0.0.1:1002"],
      voteAggregator: "127.0.0.1:1003",
      rpcTimeoutMs: 100,
    });
    expect(encodeKey(plain.options.faucet!.publicKey)).toBe(encodeKey(genesis.faucet));
    const overridden = resolveConnection(
      { rpcTimeout: 100, proposer: ["h:1", "h:2"], aggregator: "h:3" },
      env,
    );
    expect(overridden.options).toMatchObject({
      proposers: ["h:1", "h:2"],
      executors: ["127.0.0.1:1002"],
      voteAggregator: "h:3",
    });
  });

  it("uses flags alone when there is no devnet file, with the faucet from the seed given", () => {
    const empty = { SIMD23_HOME: join(directory, "nothing") };
    const connection = resolveConnection(
      { rpcTimeout: 1, proposer: ["h:1"], clusterSeed: toHex(seed) },
      empty,
    );
    expect(connection.devnet).toBeUndefined();
    expect(connection.options.proposers).toEqual(["h:1"]);
    expect(encodeKey(connection.options.faucet!.publicKey)).toBe(encodeKey(genesis.faucet));
    const fromEnv = resolveConnection(
      { rpcTimeout: 1, proposer: ["h:1"] },
      { ...empty, SIMD23_CLUSTER_SEED: toHex(seed) },
    );
    expect(encodeKey(fromEnv.options.faucet!.publicKey)).toBe(encodeKey(genesis.faucet));
    expect(() => resolveConnection({ rpcTimeout: 1 }, empty)).toThrow(/no devnet file here/);
    expect(() => resolveConnection({ rpcTimeout: 1, devnet: join(directory, "none.json") }, env)).toThrow(
      /none.json/,
    );
    expect(() => resolveConnection({ rpcTimeout: 1, proposer: ["h"] }, env)).toThrow(
      /--proposer: expected host:port/,
    );
    expect(() => resolveConnection({ rpcTimeout: 1, proposer: ["h:1"], clusterSeed: "ab" }, empty)).toThrow(
      /--cluster-seed: expected 64 hex characters/,
    );
  });

  it("takes an account as a public key or a keypair file", () => {
    const keypair = generateKeypair();
    const path = join(directory, "k.json");
    writeKeypairFile(path, keypair);
    expect(encodeKey(parseAccount(path, "to"))).toBe(encodeKey(keypair.publicKey));
    expect(encodeKey(parseAccount(encodeKey(keypair.publicKey), "to"))).toBe(encodeKey(keypair.publicKey));
    expect(() => parseAccount(directory, "--to")).toThrow(/neither a base58 public key nor a keypair file/);
  });
});
