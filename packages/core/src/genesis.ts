import { genesis as pb } from "@simd23/proto";
import { fromBase58, toBase58 } from "./base58.js";
import { compareBytes, toHex, utf8 } from "./bytes.js";
import { sha256 } from "./hash.js";
import { deriveKeypair, PUBLIC_KEY_BYTES } from "./keys.js";

export type Timing = pb.Timing;
export type Limits = pb.Limits;
export type Fees = pb.Fees;
export type GenesisValidator = pb.Validator;
export type PoolProposer = pb.PoolProposer;
export type GenesisAccount = pb.Account;
export const ExecutionMode = pb.ExecutionMode;
export type ExecutionMode = pb.ExecutionMode;

/** A validated genesis: every section present, every rule of {@link validateGenesis} holds. */
export interface Genesis {
  readonly clusterName: string;
  readonly mode: ExecutionMode;
  readonly timing: Timing;
  readonly limits: Limits;
  readonly fees: Fees;
  readonly validators: readonly GenesisValidator[];
  readonly proposerPool: readonly PoolProposer[];
  readonly accounts: readonly GenesisAccount[];
  readonly verifier: Uint8Array;
  readonly faucet: Uint8Array;
}

/**
 * Solana's timing (64 ticks per 400 ms slot, 4-slot leader windows, 432,000-slot
 * epochs), with a PoH rate this machine sustains with headroom: 12,500 hashes per
 * tick is 2 M hashes/s against ≈ 17 M/s for the native chain (docs/performance.md).
 */
export const DEFAULT_TIMING: Omit<Timing, "startTimeMs"> = {
  slotDurationMs: 400,
  ticksPerSlot: 64,
  hashesPerTick: 12_500,
  proposerHashesPerTick: 1_250,
  slotsPerLeaderWindow: 4,
  slotsPerEpoch: 432_000,
  graceTicks: 8,
  membershipDelaySlots: 4,
  maxProposersPerUserBlockSlot: 16,
  proposerEvictionUserBlockSlots: 8,
  blockhashValiditySlots: 150,
  maxLockoutHistory: 32,
  membershipRequestValiditySlots: 16,
};

/** Solana's limits: 1232-byte packets, 1.4 M CU per transaction, 48 M CU per slot. */
export const DEFAULT_LIMITS: Limits = {
  maxTransactionBytes: 1232,
  maxTransactionComputeUnits: 1_400_000,
  maxSlotComputeUnits: 48_000_000n,
  // Below NATS's default 1 MiB max payload, with room for the envelope.
  maxUserBlockBytes: 1_000_000,
  maxBundleTransactions: 5,
};

export const DEFAULT_FEES: Fees = { lamportsPerSignature: 5_000n };

export class GenesisError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid genesis:\n  - ${problems.join("\n  - ")}`);
    this.name = "GenesisError";
  }
}

function checkKey(problems: string[], what: string, key: Uint8Array): void {
  if (key.length !== PUBLIC_KEY_BYTES) problems.push(`${what}: a public key is 32 bytes, got ${key.length}`);
}

/** Checks every rule a genesis must satisfy and returns it typed; throws a GenesisError listing all problems. */
export function validateGenesis(input: pb.Genesis | Genesis): Genesis {
  const problems: string[] = [];
  const { timing, limits, fees } = input;
  if (!input.clusterName) problems.push("clusterName is empty");
  if (
    input.mode !== pb.ExecutionMode.EXECUTION_MODE_ASYNC &&
    input.mode !== pb.ExecutionMode.EXECUTION_MODE_SYNC
  ) {
    problems.push(`mode must be EXECUTION_MODE_ASYNC or EXECUTION_MODE_SYNC, got ${input.mode}`);
  }
  if (timing === undefined) problems.push("timing is missing");
  else {
    const positive: (keyof Timing)[] = [
      "slotDurationMs",
      "ticksPerSlot",
      "hashesPerTick",
      "proposerHashesPerTick",
      "slotsPerLeaderWindow",
      "slotsPerEpoch",
      "membershipDelaySlots",
      "maxProposersPerUserBlockSlot",
      "proposerEvictionUserBlockSlots",
      "blockhashValiditySlots",
      "maxLockoutHistory",
      "membershipRequestValiditySlots",
    ];
    for (const field of positive)
      if (!(Number(timing[field]) > 0)) problems.push(`timing.${field} must be > 0`);
    // A tick's last hash is always a plain hash, so a leader records mixins only with hashesPerTick ≥ 2.
    if (timing.hashesPerTick === 1)
      problems.push("timing.hashesPerTick must be ≥ 2: with 1 a leader can record nothing between ticks");
    if (timing.ticksPerSlot % 2 !== 0)
      problems.push("timing.ticksPerSlot must be even: a UserBlockSlot is half a slot");
    if (timing.graceTicks >= timing.ticksPerSlot / 2) {
      problems.push("timing.graceTicks must be shorter than a UserBlockSlot (ticksPerSlot / 2)");
    }
    if (timing.slotsPerEpoch % timing.slotsPerLeaderWindow !== 0) {
      problems.push("timing.slotsPerEpoch must be a multiple of timing.slotsPerLeaderWindow");
    }
    if (timing.maxLockoutHistory > 32) problems.push("timing.maxLockoutHistory must be ≤ 32 (2^32 lockout)");
  }
  if (limits === undefined) problems.push("limits is missing");
  else {
    if (limits.maxTransactionBytes < 128) problems.push("limits.maxTransactionBytes must be ≥ 128");
    if (limits.maxTransactionComputeUnits <= 0)
      problems.push("limits.maxTransactionComputeUnits must be > 0");
    if (limits.maxSlotComputeUnits < BigInt(limits.maxTransactionComputeUnits)) {
      problems.push("limits.maxSlotComputeUnits must be ≥ limits.maxTransactionComputeUnits");
    }
    if (limits.maxUserBlockBytes < limits.maxTransactionBytes) {
      problems.push("limits.maxUserBlockBytes must be ≥ limits.maxTransactionBytes");
    }
    if (limits.maxBundleTransactions < 1) problems.push("limits.maxBundleTransactions must be ≥ 1");
  }
  if (fees === undefined) problems.push("fees is missing");

  if (input.validators.length === 0) problems.push("validators is empty");
  const seen = new Set<string>();
  const unique = (what: string, key: Uint8Array) => {
    const id = toHex(key);
    if (seen.has(id)) problems.push(`${what}: identity ${toBase58(key)} appears twice`);
    seen.add(id);
  };
  input.validators.forEach((v, i) => {
    checkKey(problems, `validators[${i}]`, v.identity);
    unique(`validators[${i}]`, v.identity);
    if (v.stake <= 0n) problems.push(`validators[${i}].stake must be > 0`);
  });
  if (!input.validators.some((v) => v.runsLeader)) problems.push("no validator runs a leader");
  if (input.proposerPool.length === 0) problems.push("proposerPool is empty");
  input.proposerPool.forEach((p, i) => {
    checkKey(problems, `proposerPool[${i}]`, p.identity);
    unique(`proposerPool[${i}]`, p.identity);
  });
  checkKey(problems, "verifier", input.verifier);
  checkKey(problems, "faucet", input.faucet);
  const accountKeys = new Set<string>();
  input.accounts.forEach((a, i) => {
    checkKey(problems, `accounts[${i}]`, a.pubkey);
    const id = toHex(a.pubkey);
    if (accountKeys.has(id)) problems.push(`accounts[${i}]: ${toBase58(a.pubkey)} appears twice`);
    accountKeys.add(id);
  });
  if (!accountKeys.has(toHex(input.faucet))) problems.push("the faucet is not among the accounts");

  if (problems.length > 0) throw new GenesisError(problems);
  return input as Genesis;
}

/** The content hash of a genesis: it seeds the leader schedule and names the cluster. */
export function genesisHash(genesis: Genesis): Uint8Array {
  return sha256(utf8("simd23/genesis/v1"), pb.Genesis.encode(genesis as pb.Genesis).finish());
}

export function totalStake(genesis: Genesis): bigint {
  return genesis.validators.reduce((sum, v) => sum + v.stake, 0n);
}

/** Index of a validator by identity, or -1. */
export function validatorIndex(genesis: Genesis, identity: Uint8Array): number {
  return genesis.validators.findIndex((v) => compareBytes(v.identity, identity) === 0);
}

/** Index of a pool proposer by identity, or -1. */
export function proposerIndex(genesis: Genesis, identity: Uint8Array): number {
  return genesis.proposerPool.findIndex((p) => compareBytes(p.identity, identity) === 0);
}

// The file form keeps keys in base58 and 64-bit numbers as decimal strings, so a
// Solana user can read and edit it; JSON cannot carry bigints exactly otherwise.
interface GenesisFile {
  clusterName: string;
  mode: "async" | "sync";
  timing: Record<string, string | number>;
  limits: Record<string, string | number>;
  fees: { lamportsPerSignature: string };
  validators: { name: string; identity: string; stake: string; runsLeader: boolean }[];
  proposerPool: { name: string; identity: string }[];
  accounts: { pubkey: string; lamports: string }[];
  verifier: string;
  faucet: string;
}

export function genesisToJson(genesis: Genesis): string {
  const file: GenesisFile = {
    clusterName: genesis.clusterName,
    mode: genesis.mode === pb.ExecutionMode.EXECUTION_MODE_SYNC ? "sync" : "async",
    timing: { ...genesis.timing, startTimeMs: genesis.timing.startTimeMs.toString() },
    limits: { ...genesis.limits, maxSlotComputeUnits: genesis.limits.maxSlotComputeUnits.toString() },
    fees: { lamportsPerSignature: genesis.fees.lamportsPerSignature.toString() },
    validators: genesis.validators.map((v) => ({
      name: v.name,
      identity: toBase58(v.identity),
      stake: v.stake.toString(),
      runsLeader: v.runsLeader,
    })),
    proposerPool: genesis.proposerPool.map((p) => ({ name: p.name, identity: toBase58(p.identity) })),
    accounts: genesis.accounts.map((a) => ({ pubkey: toBase58(a.pubkey), lamports: a.lamports.toString() })),
    verifier: toBase58(genesis.verifier),
    faucet: toBase58(genesis.faucet),
  };
  return `${JSON.stringify(file, null, 2)}\n`;
}

function field<T>(problems: string[], path: string, value: unknown, parse: (v: unknown) => T): T {
  try {
    return parse(value);
  } catch (error) {
    problems.push(`${path}: ${(error as Error).message}`);
    return undefined as T;
  }
}

const asString = (v: unknown): string => {
  if (typeof v !== "string") throw new TypeError("expected a string");
  return v;
};
const asBool = (v: unknown): boolean => {
  if (typeof v !== "boolean") throw new TypeError("expected true or false");
  return v;
};
const asU32 = (v: unknown): number => {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new TypeError("expected an integer from 0 to 2^32-1");
  }
  return v;
};
const asU64 = (v: unknown): bigint => {
  if (
    (typeof v !== "string" || !/^\d+$/.test(v)) &&
    (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
  ) {
    throw new TypeError("expected a non-negative integer (a decimal string for 64-bit values)");
  }
  const n = BigInt(v);
  if (n > 0xffff_ffff_ffff_ffffn) throw new TypeError("exceeds 2^64-1");
  return n;
};
const asKey = (v: unknown): Uint8Array => {
  const bytes = fromBase58(asString(v));
  if (bytes.length !== PUBLIC_KEY_BYTES) throw new TypeError(`a public key is 32 bytes, got ${bytes.length}`);
  return bytes;
};
const asArray = (v: unknown): unknown[] => {
  if (!Array.isArray(v)) throw new TypeError("expected an array");
  return v;
};
const asObject = (v: unknown): Record<string, unknown> => {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new TypeError("expected an object");
  return v as Record<string, unknown>;
};

/** Parses and validates a genesis file; throws a GenesisError naming every bad field. */
export function genesisFromJson(text: string): Genesis {
  let raw: Record<string, unknown>;
  try {
    raw = asObject(JSON.parse(text));
  } catch (error) {
    throw new GenesisError([`not a JSON object: ${(error as Error).message}`]);
  }
  const problems: string[] = [];
  const timingRaw = field(problems, "timing", raw.timing, asObject) ?? {};
  const limitsRaw = field(problems, "limits", raw.limits, asObject) ?? {};
  const feesRaw = field(problems, "fees", raw.fees, asObject) ?? {};
  const timing = {} as Record<string, unknown>;
  for (const key of Object.keys(DEFAULT_TIMING))
    timing[key] = field(problems, `timing.${key}`, timingRaw[key], asU32);
  timing.startTimeMs = field(problems, "timing.startTimeMs", timingRaw.startTimeMs, asU64);
  const limits = {} as Record<string, unknown>;
  for (const key of Object.keys(DEFAULT_LIMITS)) {
    const parse: (v: unknown) => number | bigint = key === "maxSlotComputeUnits" ? asU64 : asU32;
    limits[key] = field(problems, `limits.${key}`, limitsRaw[key], parse);
  }
  const mode = field(problems, "mode", raw.mode, (v) => {
    if (v === "async") return pb.ExecutionMode.EXECUTION_MODE_ASYNC;
    if (v === "sync") return pb.ExecutionMode.EXECUTION_MODE_SYNC;
    throw new TypeError('expected "async" or "sync"');
  });
  const list = <T>(name: string, parse: (item: Record<string, unknown>, path: string) => T): T[] =>
    (field(problems, name, raw[name], asArray) ?? []).map((item, i) => {
      const obj = field(problems, `${name}[${i}]`, item, asObject) ?? {};
      return parse(obj, `${name}[${i}]`);
    });
  const parsed: pb.Genesis = {
    clusterName: field(problems, "clusterName", raw.clusterName, asString),
    mode,
    timing: timing as unknown as Timing,
    limits: limits as unknown as Limits,
    fees: {
      lamportsPerSignature: field(problems, "fees.lamportsPerSignature", feesRaw.lamportsPerSignature, asU64),
    },
    validators: list("validators", (v, p) => ({
      name: field(problems, `${p}.name`, v.name, asString),
      identity: field(problems, `${p}.identity`, v.identity, asKey),
      stake: field(problems, `${p}.stake`, v.stake, asU64),
      runsLeader: field(problems, `${p}.runsLeader`, v.runsLeader, asBool),
    })),
    proposerPool: list("proposerPool", (v, p) => ({
      name: field(problems, `${p}.name`, v.name, asString),
      identity: field(problems, `${p}.identity`, v.identity, asKey),
    })),
    accounts: list("accounts", (v, p) => ({
      pubkey: field(problems, `${p}.pubkey`, v.pubkey, asKey),
      lamports: field(problems, `${p}.lamports`, v.lamports, asU64),
    })),
    verifier: field(problems, "verifier", raw.verifier, asKey),
    faucet: field(problems, "faucet", raw.faucet, asKey),
  };
  if (problems.length > 0) throw new GenesisError(problems);
  return validateGenesis(parsed);
}

export interface TestnetGenesisOptions {
  readonly clusterName: string;
  /** Secret from which every testnet key is derived ({@link deriveKeypair}). */
  readonly clusterSeed: Uint8Array;
  readonly startTimeMs: bigint;
  readonly validators: number;
  /** Stake per validator, in lamports; one value for all or one per validator. */
  readonly stake?: bigint | readonly bigint[];
  /** How many validators (the first ones) run a leader. */
  readonly leaders?: number;
  readonly proposerPool: number;
  readonly faucetLamports?: bigint;
  readonly mode?: ExecutionMode;
  readonly timing?: Partial<Omit<Timing, "startTimeMs">>;
  readonly limits?: Partial<Limits>;
  readonly fees?: Partial<Fees>;
}

/** Role names under which testnet keys are derived from the cluster seed. */
export const KEY_ROLES = {
  validator: "validator",
  proposer: "proposer",
  verifier: "verifier",
  faucet: "faucet",
} as const;

/**
 * A testnet genesis whose identities all derive from one cluster seed: validator
 * i, pool proposer i, the verifier and the faucet. Replicas recompute their own
 * key from the same seed and their ordinal.
 */
export function createTestnetGenesis(options: TestnetGenesisOptions): Genesis {
  const stakeOf = (i: number): bigint => {
    const { stake = 1_000_000_000_000n } = options;
    return typeof stake === "bigint" ? stake : (stake[i] ?? 0n);
  };
  const leaders = options.leaders ?? 1;
  const faucet = deriveKeypair(options.clusterSeed, KEY_ROLES.faucet, 0).publicKey;
  return validateGenesis({
    clusterName: options.clusterName,
    mode: options.mode ?? pb.ExecutionMode.EXECUTION_MODE_ASYNC,
    timing: { ...DEFAULT_TIMING, ...options.timing, startTimeMs: options.startTimeMs },
    limits: { ...DEFAULT_LIMITS, ...options.limits },
    fees: { ...DEFAULT_FEES, ...options.fees },
    validators: Array.from({ length: options.validators }, (_, i) => ({
      name: `validator-${i}`,
      identity: deriveKeypair(options.clusterSeed, KEY_ROLES.validator, i).publicKey,
      stake: stakeOf(i),
      runsLeader: i < leaders,
    })),
    proposerPool: Array.from({ length: options.proposerPool }, (_, i) => ({
      name: `proposer-${i}`,
      identity: deriveKeypair(options.clusterSeed, KEY_ROLES.proposer, i).publicKey,
    })),
    accounts: [{ pubkey: faucet, lamports: options.faucetLamports ?? 1_000_000_000_000_000n }],
    verifier: deriveKeypair(options.clusterSeed, KEY_ROLES.verifier, 0).publicKey,
    faucet,
  });
}
