import { readFileSync } from "node:fs";
import {
  bytesEqual,
  deriveKeypair,
  encodeKey,
  fromHex,
  type Genesis,
  GenesisError,
  genesisFromJson,
  KEY_ROLES,
  type Keypair,
} from "@simd23/core";
import { type ClientOptions, connect, type Simd23Client } from "../client.js";
import { DevnetFileError } from "../errors.js";
import {
  type DevnetFile,
  defaultDevnetFilePath,
  devnetGenesisPath,
  isDevnetRunning,
  readDevnetFile,
} from "./file.js";

/** A devnet found on disk: its file, its genesis and the client options that reach it. */
export interface Devnet {
  readonly path: string;
  readonly file: DevnetFile;
  readonly genesis: Genesis;
  readonly faucet: Keypair;
  readonly options: ClientOptions;
}

/** Reads and validates a genesis file; throws a DevnetFileError naming it. */
export function readGenesisFile(path: string): Genesis {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new DevnetFileError(
      path,
      `cannot read the genesis: ${(error as NodeJS.ErrnoException).code ?? error}`,
    );
  }
  try {
    return genesisFromJson(text);
  } catch (error) {
    if (error instanceof GenesisError)
      throw new DevnetFileError(path, `not a valid genesis: ${error.problems.join("; ")}`);
    throw error;
  }
}

/** The faucet keypair a cluster seed derives (design: testnet keys derive from the seed). */
export function faucetFromClusterSeed(clusterSeed: Uint8Array): Keypair {
  return deriveKeypair(clusterSeed, KEY_ROLES.faucet, 0);
}

/**
 * Loads the devnet a file describes (default: `<home>/devnet.json`). Throws a DevnetFileError
 * when the file is missing or malformed, its supervising process has exited, its genesis
 * cannot be read, or its seed does not derive the genesis faucet.
 */
export function loadDevnet(path: string = defaultDevnetFilePath()): Devnet {
  const file = readDevnetFile(path);
  if (!isDevnetRunning(file))
    throw new DevnetFileError(
      path,
      `the devnet that wrote this file is not running (process ${file.pid} has exited): start one with \`pnpm devnet\``,
    );
  const genesisPath = devnetGenesisPath(file, path);
  const genesis = readGenesisFile(genesisPath);
  const faucet = faucetFromClusterSeed(fromHex(file.clusterSeed));
  if (!bytesEqual(faucet.publicKey, genesis.faucet))
    throw new DevnetFileError(
      path,
      `the cluster seed derives faucet ${encodeKey(faucet.publicKey)}, but ${genesisPath} names ${encodeKey(genesis.faucet)}`,
    );
  const first = (list: readonly { address: string }[]) => list[0]?.address;
  const voteAggregator = first(file.voteAggregators);
  const bankHashVerifier = first(file.bankHashVerifiers);
  return {
    path,
    file,
    genesis,
    faucet,
    options: {
      proposers: file.proposers.map((p) => p.address),
      executors: file.executors.map((p) => p.address),
      leaders: file.leaders.map((p) => p.address),
      ...(voteAggregator === undefined ? {} : { voteAggregator }),
      ...(bankHashVerifier === undefined ? {} : { bankHashVerifier }),
      faucet,
      limits: genesis.limits,
      fees: genesis.fees,
    },
  };
}

/** A client for the running devnet (see loadDevnet); `overrides` replace what the file says. */
export function connectDevnet(options: { readonly path?: string } & ClientOptions = {}): Simd23Client {
  const { path, ...overrides } = options;
  const devnet = loadDevnet(path);
  return connect({ ...devnet.options, ...overrides });
}
