import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from "node:crypto";
import { fromBase58, toBase58 } from "./base58.js";
import { concatBytes, utf8 } from "./bytes.js";
import { sha256 } from "./hash.js";

export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const SEED_BYTES = 32;

// DER prefixes of an ed25519 PKCS#8 private key and SPKI public key (RFC 8410).
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface Keypair {
  readonly publicKey: Uint8Array;
  readonly seed: Uint8Array;
  readonly privateKey: KeyObject;
}

/** An ed25519 keypair from a 32-byte seed; the caller supplies the randomness. */
export function keypairFromSeed(seed: Uint8Array): Keypair {
  if (seed.length !== SEED_BYTES)
    throw new RangeError(`an ed25519 seed is ${SEED_BYTES} bytes, got ${seed.length}`);
  const privateKey = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, seed]),
    format: "der",
    type: "pkcs8",
  });
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  return {
    publicKey: new Uint8Array(spki.subarray(SPKI_PREFIX.length)),
    seed: Uint8Array.from(seed),
    privateKey,
  };
}

/**
 * A testnet key derived from a cluster seed, a role and an index, so that a
 * genesis and every replica can recompute the same identities from one secret.
 */
export function deriveKeypair(clusterSeed: Uint8Array, role: string, index: number): Keypair {
  return keypairFromSeed(sha256(utf8("simd23/key/v1"), clusterSeed, utf8(`${role}/${index}`)));
}

export function signMessage(keypair: Keypair, message: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, message, keypair.privateKey));
}

// Building a KeyObject from raw bytes costs as much as a verification, so keys
// are cached; the cap keeps a flood of one-off keys from growing it unbounded.
const PUBLIC_KEY_CACHE_LIMIT = 65_536;
const publicKeyCache = new Map<string, KeyObject>();

function publicKeyObject(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey).toString("base64");
  let key = publicKeyCache.get(id);
  if (key === undefined) {
    key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: "der", type: "spki" });
    if (publicKeyCache.size >= PUBLIC_KEY_CACHE_LIMIT) publicKeyCache.clear();
    publicKeyCache.set(id, key);
  }
  return key;
}

/** Verifies an ed25519 signature; any malformed key or signature is simply invalid. */
export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, message, publicKeyObject(publicKey), signature);
  } catch {
    return false;
  }
}

/** Text form of a public key or signature (base58, as Solana shows them). */
export function encodeKey(bytes: Uint8Array): string {
  return toBase58(bytes);
}

/** Parses a base58 public key; throws a TypeError that says what is wrong. */
export function decodePublicKey(text: string): Uint8Array {
  const bytes = fromBase58(text);
  if (bytes.length !== PUBLIC_KEY_BYTES) {
    throw new TypeError(
      `a public key is ${PUBLIC_KEY_BYTES} bytes, ${JSON.stringify(text)} decodes to ${bytes.length}`,
    );
  }
  return bytes;
}

/** Parses a base58 signature; throws a TypeError that says what is wrong. */
export function decodeSignature(text: string): Uint8Array {
  const bytes = fromBase58(text);
  if (bytes.length !== SIGNATURE_BYTES) {
    throw new TypeError(
      `a signature is ${SIGNATURE_BYTES} bytes, ${JSON.stringify(text)} decodes to ${bytes.length}`,
    );
  }
  return bytes;
}

/** Domain-separated signing input: every signed object names what it is. */
export function signingInput(domain: string, body: Uint8Array): Uint8Array {
  return concatBytes(utf8(domain), body);
}
