import { existsSync, statSync } from "node:fs";
import { fromHex, type Keypair, type Limits } from "@simd23/core";
import type { Command } from "commander";
import { type ClientOptions, connect, type Simd23Client } from "../client.js";
import { type Devnet, faucetFromClusterSeed, loadDevnet, readGenesisFile } from "../devnet/connect.js";
import { defaultDevnetFilePath, isEndpointAddress } from "../devnet/file.js";
import { parsePublicKey, readKeypairFile } from "../keys.js";
import { CliError } from "./errors.js";
import { argParser, collect, parseCount } from "./input.js";

/** The options every command that talks to a testnet takes (commander's parsed form). */
export interface ConnectionFlags {
  readonly devnet?: string;
  readonly proposer?: readonly string[];
  readonly aggregator?: string;
  readonly executor?: readonly string[];
  readonly verifier?: string;
  readonly leader?: readonly string[];
  readonly clusterSeed?: string;
  readonly genesis?: string;
  readonly rpcTimeout: number;
}

export function addConnectionOptions(command: Command): Command {
  return command
    .option(
      "--devnet <file>",
      "the devnet file that lists the endpoints (default: $SIMD23_HOME/devnet.json, else .devnet/devnet.json in the repository)",
    )
    .option("--proposer <address>", "a proposer's gRPC endpoint, host:port (repeat for several)", collect)
    .option("--aggregator <address>", "the vote aggregator's gRPC endpoint")
    .option("--executor <address>", "an executor's gRPC endpoint (repeat for several)", collect)
    .option("--verifier <address>", "the bank-hash verifier's gRPC endpoint")
    .option("--leader <address>", "a leader's gRPC endpoint (repeat for several)", collect)
    .option(
      "--cluster-seed <hex>",
      "the cluster seed (64 hex characters) the faucet key derives from (default: the devnet's, else SIMD23_CLUSTER_SEED)",
    )
    .option("--genesis <file>", "the genesis, for transaction limits and fees (default: the devnet's)")
    .option("--rpc-timeout <ms>", "the deadline of each call", argParser(parseCount, "--rpc-timeout"), 5_000);
}

/** Where a command's endpoints came from, and the client options they make. */
export interface Connection {
  readonly options: ClientOptions;
  readonly devnet: Devnet | undefined;
}

function checkAddress(address: string, flag: string): string {
  if (!isEndpointAddress(address)) throw new CliError(`${flag}: expected host:port, got "${address}"`);
  return address;
}

function seedFrom(hex: string, source: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(hex))
    throw new CliError(`${source}: expected 64 hex characters (32 bytes), got ${hex.length} characters`);
  return fromHex(hex);
}

/**
 * The devnet file (named with --devnet, or found at the default path) with the endpoint flags
 * replacing, role by role, what it lists. With endpoint flags and no --devnet, a default devnet
 * file that cannot be used is ignored: the flags name the testnet.
 */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  const proposers = (flags.proposer ?? []).map((a) => checkAddress(a, "--proposer"));
  const executors = (flags.executor ?? []).map((a) => checkAddress(a, "--executor"));
  const leaders = (flags.leader ?? []).map((a) => checkAddress(a, "--leader"));
  const aggregator =
    flags.aggregator === undefined ? undefined : checkAddress(flags.aggregator, "--aggregator");
  const verifier = flags.verifier === undefined ? undefined : checkAddress(flags.verifier, "--verifier");
  const anyEndpoint =
    proposers.length + executors.length + leaders.length > 0 ||
    aggregator !== undefined ||
    verifier !== undefined;

  let devnet: Devnet | undefined;
  const path = flags.devnet ?? defaultDevnetFilePath(env);
  if (flags.devnet !== undefined || !anyEndpoint) devnet = loadDevnet(path);
  else if (existsSync(path)) {
    try {
      devnet = loadDevnet(path);
    } catch {
      devnet = undefined;
    }
  }

  let faucet: Keypair | undefined = devnet?.faucet;
  if (flags.clusterSeed !== undefined)
    faucet = faucetFromClusterSeed(seedFrom(flags.clusterSeed, "--cluster-seed"));
  else if (faucet === undefined && env.SIMD23_CLUSTER_SEED)
    faucet = faucetFromClusterSeed(seedFrom(env.SIMD23_CLUSTER_SEED, "SIMD23_CLUSTER_SEED"));

  let limits: Limits | undefined = devnet?.genesis.limits;
  let fees = devnet?.genesis.fees;
  if (flags.genesis !== undefined) {
    const genesis = readGenesisFile(flags.genesis);
    limits = genesis.limits;
    fees = genesis.fees;
  }

  const base = devnet?.options ?? {};
  const options: ClientOptions = {
    ...base,
    ...(proposers.length > 0 ? { proposers } : {}),
    ...(executors.length > 0 ? { executors } : {}),
    ...(leaders.length > 0 ? { leaders } : {}),
    ...(aggregator === undefined ? {} : { voteAggregator: aggregator }),
    ...(verifier === undefined ? {} : { bankHashVerifier: verifier }),
    ...(faucet === undefined ? {} : { faucet }),
    ...(limits === undefined ? {} : { limits }),
    ...(fees === undefined ? {} : { fees }),
    rpcTimeoutMs: flags.rpcTimeout,
  };
  return { options, devnet };
}

/** Runs `body` with a client for the resolved testnet, closing it afterwards. */
export async function withClient<T>(
  flags: ConnectionFlags,
  body: (client: Simd23Client, connection: Connection) => Promise<T>,
): Promise<T> {
  const connection = resolveConnection(flags);
  const client = connect(connection.options);
  try {
    return await body(client, connection);
  } finally {
    client.close();
  }
}

/**
 * A recipient or account named on the command line: a base58 public key, or the path of a
 * keypair file (as the solana CLI accepts either).
 */
export function parseAccount(text: string, what: string): Uint8Array {
  try {
    return parsePublicKey(text);
  } catch {
    if (existsSync(text) && statSync(text).isFile()) return readKeypairFile(text).publicKey;
    throw new CliError(`${what}: "${text}" is neither a base58 public key nor a keypair file`);
  }
}

/** The signer a command pays with: the keypair file given, else the testnet's faucet. */
export function payerFrom(keyfile: string | undefined, client: Simd23Client): Keypair {
  if (keyfile !== undefined) return readKeypairFile(keyfile);
  if (client.faucet === undefined)
    throw new CliError(
      "no --from keypair and no faucet key: pass --from KEYFILE, or run against a devnet (its file holds the cluster seed)",
    );
  return client.faucet;
}
