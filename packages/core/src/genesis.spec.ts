import { describe, expect, it } from "vitest";
import { toBase58 } from "./base58.js";
import { toHex } from "./bytes.js";
import {
  createTestnetGenesis,
  GenesisError,
  genesisFromJson,
  genesisHash,
  genesisToJson,
  totalStake,
  validateGenesis,
  validatorIndex,
} from "./genesis.js";

const seed = new Uint8Array(32).fill(1);
const base = () =>
  createTestnetGenesis({
    clusterName: "vectors",
    clusterSeed: seed,
    startTimeMs: 1_700_000_000_000n,
    validators: 4,
    leaders: 2,
    proposerPool: 3,
  });

describe("genesis", () => {
  it("builds a testnet genesis from a seed, with a stable content hash", () => {
    const genesis = base();
    expect(genesis.validators).toHaveLength(4);
    expect(genesis.validators.filter((v) => v.runsLeader)).toHaveLength(2);
    expect(genesis.proposerPool).toHaveLength(3);
    expect(totalStake(genesis)).toBe(4_000_000_000_000n);
    expect(validatorIndex(genesis, genesis.validators[2]!.identity)).toBe(2);
    expect(toHex(genesisHash(genesis))).toBe(toHex(genesisHash(base())));
    const laterStart = { ...genesis, timing: { ...genesis.timing, startTimeMs: 1n } };
    expect(toHex(genesisHash(laterStart))).not.toBe(toHex(genesisHash(genesis)));
  });

  it("round-trips through its JSON file form with base58 keys and decimal 64-bit values", () => {
    const genesis = base();
    const text = genesisToJson(genesis);
    expect(text).toContain(`"faucet": "${toBase58(genesis.faucet)}"`);
    expect(text).toContain('"startTimeMs": "1700000000000"');
    const parsed = genesisFromJson(text);
    expect(genesisHash(parsed)).toEqual(genesisHash(genesis));
  });

  it("lists every problem of an invalid genesis at once", () => {
    const genesis = base();
    const bad = {
      ...genesis,
      timing: { ...genesis.timing, ticksPerSlot: 63, graceTicks: 40, hashesPerTick: 1 },
      validators: [{ ...genesis.validators[0]!, stake: 0n, runsLeader: false }, genesis.validators[0]!],
      accounts: [],
    };
    try {
      validateGenesis(bad);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(GenesisError);
      const problems = (error as GenesisError).problems.join("\n");
      expect(problems).toMatch(/ticksPerSlot must be even/);
      expect(problems).toMatch(/graceTicks must be shorter/);
      expect(problems).toMatch(/hashesPerTick must be ≥ 2/);
      expect(problems).toMatch(/validators\[0\]\.stake must be > 0/);
      expect(problems).toMatch(/appears twice/);
      expect(problems).toMatch(/faucet is not among the accounts/);
    }
  });

  it("names each malformed field of a genesis file", () => {
    const file = JSON.parse(genesisToJson(base()));
    file.timing.slotDurationMs = "fast";
    file.validators[1].identity = "not-base58!";
    file.mode = "turbo";
    expect(() => genesisFromJson(JSON.stringify(file))).toThrow(GenesisError);
    try {
      genesisFromJson(JSON.stringify(file));
    } catch (error) {
      const problems = (error as GenesisError).problems.join("\n");
      expect(problems).toMatch(/timing\.slotDurationMs: expected an integer/);
      expect(problems).toMatch(/validators\[1\]\.identity: invalid base58 character/);
      expect(problems).toMatch(/mode: expected "async" or "sync"/);
    }
    expect(() => genesisFromJson("{")).toThrow(/not a JSON object/);
  });
});
