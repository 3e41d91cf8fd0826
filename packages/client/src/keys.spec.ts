import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeKey, fromHex, keypairFromSeed, toHex } from "@simd23/core";
import { afterAll, describe, expect, it } from "vitest";
import { InvalidInputError, KeypairFileError } from "./errors.js";
import {
  generateKeypair,
  keypairFromJson,
  keypairFromSecretKey,
  keypairToJson,
  parsePublicKey,
  parseSignature,
  readKeypairFile,
  writeKeypairFile,
} from "./keys.js";

const directory = mkdtempSync(join(tmpdir(), "simd23-keys-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

// RFC 8032 §7.1, test 1: the secret key (seed) and the public key it derives.
const RFC_SEED = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

describe("keypair files (Solana CLI format)", () => {
  it("writes the seed then the public key as 64 numbers, and reads them back", () => {
    const keypair = keypairFromSeed(fromHex(RFC_SEED));
    expect(toHex(keypair.publicKey)).toBe(RFC_PUBLIC);
    const numbers = JSON.parse(keypairToJson(keypair)) as number[];
    expect(numbers).toHaveLength(64);
    expect(toHex(Uint8Array.from(numbers.slice(0, 32)))).toBe(RFC_SEED);
    expect(toHex(Uint8Array.from(numbers.slice(32)))).toBe(RFC_PUBLIC);

    const path = join(directory, "nested", "id.json");
    writeKeypairFile(path, keypair);
    const read = readKeypairFile(path);
    expect(toHex(read.publicKey)).toBe(RFC_PUBLIC);
    expect(toHex(read.seed)).toBe(RFC_SEED);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it("reads a file the solana CLI wrote (a bare JSON array on one line)", () => {
    const path = join(directory, "solana.json");
    const bytes = [...fromHex(RFC_SEED), ...fromHex(RFC_PUBLIC)];
    writeFileSync(path, `[${bytes.join(",")}]`);
    expect(encodeKey(readKeypairFile(path).publicKey)).toBe(encodeKey(fromHex(RFC_PUBLIC)));
  });

  it("refuses to overwrite a key unless asked", () => {
    const path = join(directory, "keep.json");
    const first = generateKeypair();
    writeKeypairFile(path, first);
    expect(() => writeKeypairFile(path, generateKeypair())).toThrow(/refusing to overwrite/);
    expect(toHex(readKeypairFile(path).publicKey)).toBe(toHex(first.publicKey));
    const second = generateKeypair();
    writeKeypairFile(path, second, { overwrite: true });
    expect(toHex(readKeypairFile(path).publicKey)).toBe(toHex(second.publicKey));
  });

  it("names the file and the problem for every malformed file", () => {
    const cases: [string, RegExp][] = [
      ["not json", /not JSON/],
      ["{}", /JSON array of 64 numbers/],
      [JSON.stringify(new Array(63).fill(1)), /JSON array of 64 numbers/],
      [JSON.stringify([...new Array(63).fill(1), 256]), /element 63 is 256, not a byte/],
      [JSON.stringify([...new Array(63).fill(1), "1"]), /element 63 is "1"/],
      [
        JSON.stringify([...fromHex(RFC_SEED), ...new Uint8Array(32)]),
        /public key .* is not the one the seed/,
      ],
    ];
    for (const [text, message] of cases) {
      const path = join(directory, "bad.json");
      writeFileSync(path, text);
      expect(() => readKeypairFile(path)).toThrow(KeypairFileError);
      expect(() => readKeypairFile(path)).toThrow(message);
      expect(() => readKeypairFile(path)).toThrow(path);
    }
    expect(() => readKeypairFile(join(directory, "missing.json"))).toThrow(/no such file/);
  });

  it("checks a 64-byte secret key the same way", () => {
    expect(() => keypairFromSecretKey(new Uint8Array(10))).toThrow(InvalidInputError);
    const keypair = generateKeypair();
    expect(
      toHex(keypairFromSecretKey(Uint8Array.from([...keypair.seed, ...keypair.publicKey])).publicKey),
    ).toBe(toHex(keypair.publicKey));
    expect(toHex(keypairFromJson(keypairToJson(keypair)).seed)).toBe(toHex(keypair.seed));
  });

  it("generates a different key each time", () => {
    const keys = new Set(Array.from({ length: 20 }, () => toHex(generateKeypair().publicKey)));
    expect(keys.size).toBe(20);
  });
});

describe("public keys and signatures from text", () => {
  it("accepts base58 of the right length and says what is wrong otherwise", () => {
    const keypair = generateKeypair();
    expect(toHex(parsePublicKey(encodeKey(keypair.publicKey)))).toBe(toHex(keypair.publicKey));
    expect(() => parsePublicKey("abc")).toThrow(/not a public key: "abc": a public key is 32 bytes/);
    expect(() => parsePublicKey("0OIl")).toThrow(InvalidInputError);
    expect(() => parsePublicKey(new Uint8Array(31))).toThrow(/32 bytes, got 31/);
    expect(() => parseSignature(encodeKey(keypair.publicKey))).toThrow(/not a transaction signature/);
    expect(parseSignature(encodeKey(new Uint8Array(64).fill(1)))).toHaveLength(64);
  });
});

describe("file contents", () => {
  it("ends with a newline and holds nothing else", () => {
    const path = join(directory, "plain.json");
    writeKeypairFile(path, generateKeypair());
    expect(readFileSync(path, "utf8")).toMatch(/^\[(\d{1,3},){63}\d{1,3}\]\n$/);
  });
});
