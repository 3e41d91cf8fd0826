import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestnetGenesis, genesisToJson } from "@simd23/core";
import { describe, expect, it } from "vitest";
import {
  faucetKeypair,
  IdentityError,
  leaderKeypair,
  loadGenesis,
  proposerKeypair,
  validatorKeypair,
  verifierKeypair,
} from "./identity.js";

const seed = new Uint8Array(32).fill(2);
const genesis = createTestnetGenesis({
  clusterName: "identity",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 3,
  leaders: 1,
  proposerPool: 2,
});

describe("identity", () => {
  it("derives every role's key from the seed and checks it against the genesis", () => {
    expect(validatorKeypair(genesis, seed, 2).publicKey).toEqual(genesis.validators[2]!.identity);
    expect(leaderKeypair(genesis, seed, 0).publicKey).toEqual(genesis.validators[0]!.identity);
    expect(proposerKeypair(genesis, seed, 1).publicKey).toEqual(genesis.proposerPool[1]!.identity);
    expect(verifierKeypair(genesis, seed).publicKey).toEqual(genesis.verifier);
    expect(faucetKeypair(genesis, seed).publicKey).toEqual(genesis.faucet);
  });

  it("says what is wrong: a wrong seed, an ordinal without a validator, a validator without a leader", () => {
    expect(() => validatorKeypair(genesis, new Uint8Array(32), 0)).toThrow(
      /cluster seed does not match the genesis/,
    );
    expect(() => validatorKeypair(genesis, seed, 3)).toThrow(/ordinal 3 has no validator: the genesis has 3/);
    expect(() => leaderKeypair(genesis, seed, 1)).toThrow(/validator 1 does not run a leader/);
    expect(() => proposerKeypair(genesis, seed, 2)).toThrow(IdentityError);
  });

  it("loads a genesis file and names the file in its errors", () => {
    const dir = mkdtempSync(join(tmpdir(), "identity-"));
    writeFileSync(join(dir, "genesis.json"), genesisToJson(genesis));
    expect(loadGenesis(join(dir, "genesis.json")).clusterName).toBe("identity");
    writeFileSync(join(dir, "bad.json"), "{}");
    expect(() => loadGenesis(join(dir, "bad.json"))).toThrow(/bad\.json: invalid genesis/);
    expect(() => loadGenesis(join(dir, "missing.json"))).toThrow(
      /cannot read the genesis at .*missing\.json: ENOENT/,
    );
  });
});
