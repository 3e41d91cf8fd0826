import { describe, expect, it } from "vitest";
import { fromHex, toHex } from "./bytes.js";
import {
  decodePublicKey,
  decodeSignature,
  deriveKeypair,
  encodeKey,
  keypairFromSeed,
  signMessage,
  verifySignature,
} from "./keys.js";

describe("ed25519 keys", () => {
  it("derives the RFC 8032 test-1 public key from its seed and signs the empty message", () => {
    const seed = fromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const keypair = keypairFromSeed(seed);
    expect(toHex(keypair.publicKey)).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const signature = signMessage(keypair, new Uint8Array(0));
    expect(toHex(signature)).toBe(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    expect(verifySignature(keypair.publicKey, new Uint8Array(0), signature)).toBe(true);
  });

  it("refuses a changed message, a changed signature and malformed inputs without throwing", () => {
    const keypair = deriveKeypair(new Uint8Array(32), "validator", 0);
    const message = new Uint8Array([1, 2, 3]);
    const signature = signMessage(keypair, message);
    expect(verifySignature(keypair.publicKey, new Uint8Array([1, 2, 4]), signature)).toBe(false);
    const flipped = Uint8Array.from(signature);
    flipped[10]! ^= 1;
    expect(verifySignature(keypair.publicKey, message, flipped)).toBe(false);
    expect(verifySignature(keypair.publicKey.subarray(0, 31), message, signature)).toBe(false);
    expect(verifySignature(keypair.publicKey, message, signature.subarray(0, 63))).toBe(false);
  });

  it("derives distinct, reproducible keys per role and index", () => {
    const seed = new Uint8Array(32).fill(5);
    const a = deriveKeypair(seed, "validator", 0).publicKey;
    expect(deriveKeypair(seed, "validator", 0).publicKey).toEqual(a);
    expect(deriveKeypair(seed, "validator", 1).publicKey).not.toEqual(a);
    expect(deriveKeypair(seed, "proposer", 0).publicKey).not.toEqual(a);
  });

  it("parses base58 keys and signatures with clear errors", () => {
    const keypair = deriveKeypair(new Uint8Array(32), "faucet", 0);
    expect(decodePublicKey(encodeKey(keypair.publicKey))).toEqual(keypair.publicKey);
    expect(() => decodePublicKey("abc")).toThrow(/a public key is 32 bytes/);
    expect(() => decodeSignature(encodeKey(keypair.publicKey))).toThrow(/a signature is 64 bytes/);
  });
});
