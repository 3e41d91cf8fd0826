import { readFileSync } from "node:fs";
import {
  bytesEqual,
  deriveKeypair,
  encodeKey,
  type Genesis,
  GenesisError,
  genesisFromJson,
  KEY_ROLES,
  type Keypair,
} from "@simd23/core";

/** A role cannot start as configured: the message says what to fix. */
export class IdentityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IdentityError";
  }
}

/** Reads and validates the genesis file; every problem becomes one IdentityError. */
export function loadGenesis(path: string): Genesis {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new IdentityError(`cannot read the genesis at ${path}: ${(error as NodeJS.ErrnoException).code}`);
  }
  try {
    return genesisFromJson(text);
  } catch (error) {
    if (error instanceof GenesisError) throw new IdentityError(`${path}: ${error.message}`);
    throw error;
  }
}

function checked(keypair: Keypair, expected: Uint8Array, what: string): Keypair {
  if (!bytesEqual(keypair.publicKey, expected)) {
    throw new IdentityError(
      `the cluster seed does not match the genesis: ${what} derives to ${encodeKey(keypair.publicKey)}, the genesis names ${encodeKey(expected)}`,
    );
  }
  return keypair;
}

/** Validator `ordinal` of the genesis (executor ordinal i, leader ordinal j), from the cluster seed. */
export function validatorKeypair(genesis: Genesis, clusterSeed: Uint8Array, ordinal: number): Keypair {
  const validator = genesis.validators[ordinal];
  if (validator === undefined) {
    throw new IdentityError(
      `replica ordinal ${ordinal} has no validator: the genesis has ${genesis.validators.length}`,
    );
  }
  return checked(
    deriveKeypair(clusterSeed, KEY_ROLES.validator, ordinal),
    validator.identity,
    `validator ${ordinal}`,
  );
}

/** Leader ordinal j produces blocks for validator j, which must run a leader. */
export function leaderKeypair(genesis: Genesis, clusterSeed: Uint8Array, ordinal: number): Keypair {
  const keypair = validatorKeypair(genesis, clusterSeed, ordinal);
  if (!genesis.validators[ordinal]!.runsLeader) {
    throw new IdentityError(`validator ${ordinal} does not run a leader in this genesis`);
  }
  return keypair;
}

export function proposerKeypair(genesis: Genesis, clusterSeed: Uint8Array, poolIndex: number): Keypair {
  const proposer = genesis.proposerPool[poolIndex];
  if (proposer === undefined) {
    throw new IdentityError(
      `pool index ${poolIndex} is outside the proposer pool of ${genesis.proposerPool.length}`,
    );
  }
  return checked(
    deriveKeypair(clusterSeed, KEY_ROLES.proposer, poolIndex),
    proposer.identity,
    `proposer ${poolIndex}`,
  );
}

export function verifierKeypair(genesis: Genesis, clusterSeed: Uint8Array): Keypair {
  return checked(deriveKeypair(clusterSeed, KEY_ROLES.verifier, 0), genesis.verifier, "the verifier");
}

export function faucetKeypair(genesis: Genesis, clusterSeed: Uint8Array): Keypair {
  return checked(deriveKeypair(clusterSeed, KEY_ROLES.faucet, 0), genesis.faucet, "the faucet");
}
