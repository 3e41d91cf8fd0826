import { writeFileSync } from "node:fs";
import {
  createTestnetGenesis,
  DEFAULT_LIMITS,
  DEFAULT_TIMING,
  ExecutionMode,
  type Genesis,
  GenesisError,
  genesisHash,
  genesisToJson,
  type Limits,
  type TestnetGenesisOptions,
  type Timing,
  toBase58,
} from "@simd23/core";
import type { Command } from "commander";
import { CliError } from "../errors.js";
import { JsonReader, readJsonFile } from "../input.js";
import { clusterSeedFromEnv } from "../seed.js";

/**
 * The parameters a genesis is built from. The Helm chart renders them into a
 * ConfigMap and every pod's init container runs `simd23 genesis --params`, so
 * every replica computes the same genesis from the same parameters and seed.
 */
export interface GenesisParams {
  readonly clusterName: string;
  readonly startTimeMs: bigint;
  readonly validators: number;
  readonly leaders: number;
  readonly proposerPool: number;
  readonly mode: ExecutionMode;
  readonly faucetLamports?: bigint;
  readonly stake?: bigint;
  readonly timing: Partial<Omit<Timing, "startTimeMs">>;
  readonly limits: Partial<Limits>;
}

const TIMING_KEYS = Object.keys(DEFAULT_TIMING) as (keyof typeof DEFAULT_TIMING)[];
const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof Limits)[];
const PARAM_KEYS = [
  "clusterName",
  "startTimeMs",
  "validators",
  "leaders",
  "proposerPool",
  "mode",
  "faucetLamports",
  "stake",
  "timing",
  "limits",
];

export function parseGenesisParams(json: unknown): GenesisParams {
  const root = new JsonReader(json, "");
  root.refuseUnknownKeys(PARAM_KEYS);
  const timing: Partial<Record<keyof typeof DEFAULT_TIMING, number>> = {};
  if (root.has("timing")) {
    const reader = root.field("timing");
    reader.refuseUnknownKeys(TIMING_KEYS);
    for (const key of TIMING_KEYS) if (reader.has(key)) timing[key] = reader.field(key).integer();
  }
  const limits: Partial<Limits> = {};
  if (root.has("limits")) {
    const reader = root.field("limits");
    reader.refuseUnknownKeys(LIMIT_KEYS);
    for (const key of LIMIT_KEYS) {
      if (!reader.has(key)) continue;
      if (key === "maxSlotComputeUnits") limits[key] = reader.field(key).bigint();
      else limits[key] = reader.field(key).integer();
    }
  }
  const mode = root.has("mode") ? root.field("mode").string() : "async";
  if (mode !== "async" && mode !== "sync")
    throw new CliError(`mode: expected "async" or "sync", got "${mode}"`);
  return {
    clusterName: root.field("clusterName").string(),
    startTimeMs: root.field("startTimeMs").bigint(),
    validators: root.field("validators").integer(),
    leaders: root.has("leaders") ? root.field("leaders").integer() : 1,
    proposerPool: root.field("proposerPool").integer(),
    mode: mode === "sync" ? ExecutionMode.EXECUTION_MODE_SYNC : ExecutionMode.EXECUTION_MODE_ASYNC,
    ...(root.has("faucetLamports") ? { faucetLamports: root.field("faucetLamports").bigint() } : {}),
    ...(root.has("stake") ? { stake: root.field("stake").bigint() } : {}),
    timing,
    limits,
  };
}

export function genesisFromParams(params: GenesisParams, clusterSeed: Uint8Array): Genesis {
  if (params.leaders > params.validators) {
    throw new CliError(`leaders (${params.leaders}) cannot exceed validators (${params.validators})`);
  }
  const options: TestnetGenesisOptions = {
    clusterName: params.clusterName,
    clusterSeed,
    startTimeMs: params.startTimeMs,
    validators: params.validators,
    leaders: params.leaders,
    proposerPool: params.proposerPool,
    mode: params.mode,
    timing: params.timing,
    limits: params.limits,
    ...(params.faucetLamports === undefined ? {} : { faucetLamports: params.faucetLamports }),
    ...(params.stake === undefined ? {} : { stake: params.stake }),
  };
  try {
    return createTestnetGenesis(options);
  } catch (error) {
    if (error instanceof GenesisError) throw new CliError(error.message);
    throw error;
  }
}

function positiveInteger(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < 0)
      throw new CliError(`--${name}: expected a non-negative integer, got "${value}"`);
    return n;
  };
}

export function registerGenesisCommand(program: Command): void {
  program
    .command("genesis")
    .description(
      "write a genesis for a testnet; every key derives from the cluster seed in SIMD23_CLUSTER_SEED",
    )
    .option(
      "--params <file>",
      "read the parameters from a JSON file (as the Helm chart does) instead of flags",
    )
    .option("--cluster-name <name>", "cluster name", "devnet")
    .option("--validators <n>", "number of validators (executors)", positiveInteger("validators"), 4)
    .option("--leaders <n>", "validators that run a leader replica", positiveInteger("leaders"), 1)
    .option(
      "--proposer-pool <n>",
      "proposer keys in the pool (the most proposers that can run)",
      positiveInteger("proposer-pool"),
      16,
    )
    .option("--start-time <ms>", "slot 0 start in Unix ms, or 'now'", "now")
    .option("--slot-ms <ms>", "slot duration", positiveInteger("slot-ms"), DEFAULT_TIMING.slotDurationMs)
    .option(
      "--hashes-per-tick <n>",
      "leader PoH hashes per tick",
      positiveInteger("hashes-per-tick"),
      DEFAULT_TIMING.hashesPerTick,
    )
    .option("--mode <mode>", "execution mode: async (SIMD-0023) or sync (the baseline)", "async")
    .requiredOption("--out <file>", "where to write the genesis JSON")
    .option("--json", "print the genesis hash and identities as JSON")
    .action((options) => {
      const seed = clusterSeedFromEnv();
      const params: GenesisParams = options.params
        ? parseGenesisParams(readJsonFile(options.params))
        : {
            clusterName: options.clusterName,
            startTimeMs:
              options.startTime === "now"
                ? BigInt(Date.now())
                : new JsonReader(options.startTime, "--start-time").bigint(),
            validators: options.validators,
            leaders: options.leaders,
            proposerPool: options.proposerPool,
            mode:
              options.mode === "sync"
                ? ExecutionMode.EXECUTION_MODE_SYNC
                : ExecutionMode.EXECUTION_MODE_ASYNC,
            timing: { slotDurationMs: options.slotMs, hashesPerTick: options.hashesPerTick },
            limits: {},
          };
      if (!options.params && options.mode !== "async" && options.mode !== "sync") {
        throw new CliError(`--mode: expected "async" or "sync", got "${options.mode}"`);
      }
      const genesis = genesisFromParams(params, seed);
      try {
        writeFileSync(options.out, genesisToJson(genesis));
      } catch (error) {
        throw new CliError(
          `cannot write ${options.out}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
      const summary = {
        path: options.out,
        genesisHash: toBase58(genesisHash(genesis)),
        validators: genesis.validators.map((v) => toBase58(v.identity)),
        faucet: toBase58(genesis.faucet),
      };
      process.stdout.write(
        options.json
          ? `${JSON.stringify(summary)}\n`
          : `wrote ${summary.path}: ${genesis.validators.length} validators, ${genesis.proposerPool.length} pool proposers, genesis hash ${summary.genesisHash}\n`,
      );
    });
}
