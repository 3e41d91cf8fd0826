import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { toHex } from "../bytes.js";
import {
  bundleDigest,
  entryItemsMixin,
  itemDigest,
  transactionDigest,
  userBlockHash,
  userBlockPohStart,
  userBlockSigningInput,
} from "./digest.js";

const sha = (...parts: (Uint8Array | string)[]) => {
  const h = createHash("sha256");
  for (const part of parts) h.update(typeof part === "string" ? Buffer.from(part, "hex") : part);
  return h.digest("hex");
};
const ascii = (text: string) => Buffer.from(text, "utf8");

describe("UserBlock digests", () => {
  const message = Uint8Array.from([1, 2, 3]);
  const signatures = [new Uint8Array(64).fill(7), new Uint8Array(64).fill(8)];

  it("starts a proposer's PoH at sha256('simd23/userblock' ‖ proposer ‖ u32le(u))", () => {
    const proposer = new Uint8Array(32).fill(5);
    expect(toHex(userBlockPohStart(proposer, 0x0102))).toBe(
      sha(ascii("simd23/userblock"), proposer, "02010000"),
    );
  });

  it("digests a transaction over its bytes as received, every length prefixed", () => {
    expect(toHex(transactionDigest({ message, signatures }))).toBe(
      sha(
        ascii("simd23/tx-digest/v1"),
        "03000000",
        message,
        "02000000",
        "40000000",
        signatures[0]!,
        "40000000",
        signatures[1]!,
      ),
    );
    // Moving a byte from the message into a signature is a different transaction.
    const moved = {
      message: message.subarray(0, 2),
      signatures: [Uint8Array.of(3, ...signatures[0]!), signatures[1]!],
    };
    expect(toHex(transactionDigest(moved))).not.toBe(toHex(transactionDigest({ message, signatures })));
  });

  it("digests a bundle over its transactions' digests, apart from a lone transaction", () => {
    const transaction = { message, signatures };
    const inner = transactionDigest(transaction);
    expect(toHex(bundleDigest({ transactions: [transaction] }))).toBe(
      sha(ascii("simd23/bundle-digest/v1"), "01000000", inner),
    );
    expect(itemDigest({ item: { $case: "bundle", value: { transactions: [transaction] } } })).not.toEqual(
      itemDigest({ item: { $case: "transaction", value: transaction } }),
    );
    expect(() => itemDigest({ item: undefined })).toThrow(TypeError);
  });

  it("mixes an entry's item digests, and nothing into an entry without items", () => {
    const a = new Uint8Array(32).fill(1);
    const b = new Uint8Array(32).fill(2);
    expect(toHex(entryItemsMixin([a, b])!)).toBe(sha(ascii("simd23/entry-items/v1"), a, b));
    expect(entryItemsMixin([])).toBeNull();
  });

  it("hashes the header in its fixed binary layout and signs the domain ‖ block hash", () => {
    const header = {
      proposer: new Uint8Array(32).fill(0xaa),
      userBlockSlot: 9,
      numHashes: 300,
      lastHash: new Uint8Array(32).fill(0xbb),
      entryCount: 2,
      transactionCount: 3,
      computeUnits: 2n ** 40n + 1n,
    };
    const layout = Buffer.concat([
      header.proposer,
      Buffer.from("09000000", "hex"),
      Buffer.from("2c010000", "hex"),
      header.lastHash,
      Buffer.from("02000000", "hex"),
      Buffer.from("03000000", "hex"),
      Buffer.from("0100000000010000", "hex"),
    ]);
    expect(layout.length).toBe(88);
    const blockHash = userBlockHash(header);
    expect(toHex(blockHash)).toBe(sha(ascii("simd23/userblock-hash/v1"), layout));
    expect(Buffer.from(userBlockSigningInput(blockHash))).toEqual(
      Buffer.concat([ascii("simd23/userblock/v1"), blockHash]),
    );
    expect(() => userBlockHash({ ...header, lastHash: new Uint8Array(31) })).toThrow(RangeError);
  });
});
