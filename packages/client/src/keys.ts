import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import {
  bytesEqual,
  decodePublicKey,
  decodeSignature,
  encodeKey,
  type Keypair,
  keypairFromSeed,
  PUBLIC_KEY_BYTES,
  SEED_BYTES,
} from "@simd23/core";
import { InvalidInputError, KeypairFileError } from "./errors.js";

/** A public key as bytes or in base58. */
export type PublicKeyLike = Uint8Array | string;

const SECRET_KEY_BYTES = SEED_BYTES + PUBLIC_KEY_BYTES;

/** A new keypair from 32 bytes of operating-system randomness. */
export function generateKeypair(): Keypair {
  return keypairFromSeed(new Uint8Array(randomBytes(SEED_BYTES)));
}

/**
 * A keypair from Solana's 64-byte secret key form: the ed25519 seed, then the public key.
 * Throws an InvalidInputError when the length is wrong or the public key is not the seed's.
 */
export function keypairFromSecretKey(secretKey: Uint8Array): Keypair {
  if (secretKey.length !== SECRET_KEY_BYTES)
    throw new InvalidInputError(`a secret key is ${SECRET_KEY_BYTES} bytes, got ${secretKey.length}`);
  const keypair = keypairFromSeed(secretKey.subarray(0, SEED_BYTES));
  if (!bytesEqual(keypair.publicKey, secretKey.subarray(SEED_BYTES)))
    throw new InvalidInputError(
      "the public key (bytes 32..63) is not the one the seed (bytes 0..31) derives",
    );
  return keypair;
}

/** The Solana CLI keypair file text: a JSON array of 64 numbers, the seed then the public key. */
export function keypairToJson(keypair: Keypair): string {
  return `${JSON.stringify([...keypair.seed, ...keypair.publicKey])}\n`;
}

/** Parses keypair file text; throws an InvalidInputError that says what is wrong. */
export function keypairFromJson(text: string): Keypair {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(`not JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(parsed) || parsed.length !== SECRET_KEY_BYTES)
    throw new InvalidInputError(
      `expected a JSON array of ${SECRET_KEY_BYTES} numbers (seed, then public key)`,
    );
  const bad = parsed.findIndex((n) => typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > 255);
  if (bad >= 0)
    throw new InvalidInputError(`element ${bad} is ${JSON.stringify(parsed[bad])}, not a byte (0 to 255)`);
  return keypairFromSecretKey(Uint8Array.from(parsed as number[]));
}

/** Reads a Solana-CLI-style keypair file; throws a KeypairFileError naming the file. */
export function readKeypairFile(path: string): Keypair {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new KeypairFileError(path, `cannot read the keypair file: ${describeFsError(error)}`);
  }
  try {
    return keypairFromJson(text);
  } catch (error) {
    throw new KeypairFileError(path, `not a keypair file: ${(error as Error).message}`);
  }
}

/**
 * Writes a keypair file readable only by its owner (mode 0600), creating its directory.
 * Refuses to replace an existing file unless `overwrite` is set.
 */
export function writeKeypairFile(
  path: string,
  keypair: Keypair,
  options: { overwrite?: boolean } = {},
): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, keypairToJson(keypair), { mode: 0o600, flag: options.overwrite ? "w" : "wx" });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new KeypairFileError(
      path,
      code === "EEXIST"
        ? "the file exists; refusing to overwrite a key"
        : `cannot write: ${describeFsError(error)}`,
    );
  }
}

/** A public key from bytes or base58; throws an InvalidInputError for anything else. */
export function parsePublicKey(key: PublicKeyLike): Uint8Array {
  if (typeof key !== "string") {
    if (key.length !== PUBLIC_KEY_BYTES)
      throw new InvalidInputError(`a public key is ${PUBLIC_KEY_BYTES} bytes, got ${key.length}`);
    return key;
  }
  try {
    return decodePublicKey(key);
  } catch (error) {
    throw new InvalidInputError(`not a public key: ${JSON.stringify(key)}: ${(error as Error).message}`);
  }
}

/** A transaction signature (its id) from bytes or base58; throws an InvalidInputError for anything else. */
export function parseSignature(signature: Uint8Array | string): Uint8Array {
  if (typeof signature !== "string") return signature;
  try {
    return decodeSignature(signature);
  } catch (error) {
    throw new InvalidInputError(
      `not a transaction signature: ${JSON.stringify(signature)}: ${(error as Error).message}`,
    );
  }
}

/** Base58 text of a public key. */
export function publicKeyToString(key: PublicKeyLike): string {
  return typeof key === "string" ? encodeKey(parsePublicKey(key)) : encodeKey(key);
}

function describeFsError(error: unknown): string {
  const { code, message } = error as NodeJS.ErrnoException;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES") return "permission denied";
  if (code === "EISDIR") return "is a directory";
  return code ?? message;
}
