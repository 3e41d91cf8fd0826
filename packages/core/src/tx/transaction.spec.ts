import { tx } from "@simd23/proto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { concatBytes, utf8 } from "../bytes.js";
import { DEFAULT_LIMITS } from "../genesis.js";
import { sha256 } from "../hash.js";
import { encodeKey, keypairFromSeed, signingInput, signMessage } from "../keys.js";
import {
  instructionComputeUnits,
  MEMO_BASE_COMPUTE_UNITS,
  MEMO_COMPUTE_UNITS_PER_BYTE,
  messageComputeUnits,
  SIGNATURE_COMPUTE_UNITS,
  TRANSFER_COMPUTE_UNITS,
} from "./compute.js";
import {
  buildTransaction,
  burnComputeInstruction,
  decodeTransaction,
  encodedTransactionSize,
  encodeTransactionMessage,
  memoInstruction,
  signTransaction,
  TransactionError,
  type TransactionFields,
  transactionIdBase58,
  transferInstruction,
  verifyTransactionSignatures,
} from "./transaction.js";

const alice = keypairFromSeed(new Uint8Array(32).fill(1));
const bob = keypairFromSeed(new Uint8Array(32).fill(2));
const carol = keypairFromSeed(new Uint8Array(32).fill(3)).publicKey;
const blockhash = sha256(utf8("a recent slot"));

const fields = (overrides: Partial<TransactionFields> = {}): TransactionFields => ({
  recentBlockhash: blockhash,
  computeUnitLimit: 10_000,
  computeUnitPrice: 5n,
  instructions: [transferInstruction(0, carol, 1_000n)],
  ...overrides,
});

function errorOf(input: Uint8Array | tx.Transaction, limits = DEFAULT_LIMITS): TransactionError {
  const decoded = decodeTransaction(input, limits);
  if (decoded.ok) throw new Error("expected the transaction to be rejected");
  return decoded.error;
}

/** Signs arbitrary message bytes as if they were a valid message from alice. */
function signRaw(message: Uint8Array): tx.Transaction {
  return { message, signatures: [signMessage(alice, signingInput("simd23/tx/v1", message))] };
}

describe("building and signing", () => {
  it("signs the domain followed by the message, signatures[0] is the id, signers[0] the fee payer", () => {
    const built = buildTransaction(fields(), [alice, bob], DEFAULT_LIMITS);
    const signed = concatBytes(utf8("simd23/tx/v1"), built.wire.message);
    expect(built.wire.signatures[0]).toEqual(signMessage(alice, signed));
    expect(built.wire.signatures[1]).toEqual(signMessage(bob, signed));
    expect(built.id).toEqual(built.wire.signatures[0]);
    expect(built.feePayer).toEqual(alice.publicKey);
    expect(built.signatureCount).toBe(2);
    expect(transactionIdBase58(built)).toBe(encodeKey(built.wire.signatures[0]!));
    expect(verifyTransactionSignatures(built)).toBe(true);
  });

  it("is deterministic: ed25519 signatures and the canonical encoding fix the bytes", () => {
    const a = buildTransaction(fields(), [alice], DEFAULT_LIMITS);
    const b = buildTransaction(fields(), [alice], DEFAULT_LIMITS);
    expect(tx.Transaction.encode(a.wire).finish()).toEqual(tx.Transaction.encode(b.wire).finish());
  });

  it("measures the size as the encoded tx.Transaction", () => {
    const built = buildTransaction(fields(), [alice], DEFAULT_LIMITS);
    const bytes = tx.Transaction.encode(built.wire).finish();
    expect(built.sizeBytes).toBe(bytes.length);
    expect(encodedTransactionSize(built.wire)).toBe(bytes.length);
  });

  it("refuses keypairs that are not the message's signers", () => {
    const message = encodeTransactionMessage([alice.publicKey], fields());
    expect(() => signTransaction(message, [bob])).toThrow(TransactionError);
    expect(() => signTransaction(message, [alice, bob])).toThrow(/signers, in order/);
  });

  it("refuses to build what decoding would reject", () => {
    expect(() => buildTransaction(fields({ computeUnitLimit: 0 }), [alice], DEFAULT_LIMITS)).toThrow(
      /computeUnitLimit must be at least 1/,
    );
    expect(() =>
      buildTransaction(fields({ recentBlockhash: new Uint8Array(31) }), [alice], DEFAULT_LIMITS),
    ).toThrow(/recentBlockhash is 31 bytes/);
  });
});

describe("decodeTransaction", () => {
  const built = buildTransaction(fields(), [alice, bob], DEFAULT_LIMITS);
  const bytes = tx.Transaction.encode(built.wire).finish();

  it("accepts the bytes and the decoded form alike", () => {
    for (const input of [bytes, tx.Transaction.decode(bytes)]) {
      const decoded = decodeTransaction(input, DEFAULT_LIMITS);
      expect(decoded.ok).toBe(true);
      if (decoded.ok) {
        expect(decoded.value.id).toEqual(built.id);
        expect(decoded.value.computeUnitLimit).toBe(10_000);
        expect(decoded.value.computeUnitPrice).toBe(5n);
        expect(decoded.value.sizeBytes).toBe(bytes.length);
      }
    }
  });

  it("OVERSIZE: one byte over maxTransactionBytes, checked before decoding", () => {
    const limits = { ...DEFAULT_LIMITS, maxTransactionBytes: bytes.length - 1 };
    expect(errorOf(bytes, limits).code).toBe("OVERSIZE");
    expect(errorOf(built.wire, limits).code).toBe("OVERSIZE");
    expect(decodeTransaction(bytes, { ...DEFAULT_LIMITS, maxTransactionBytes: bytes.length }).ok).toBe(true);
    expect(errorOf(new Uint8Array(1233).fill(0xff)).code).toBe("OVERSIZE");
  });

  it("OVERSIZE: a memo that pushes the transaction past 1232 bytes", () => {
    const at = (length: number) =>
      decodeTransaction(
        tx.Transaction.encode(
          buildTransaction(fields({ instructions: [memoInstruction("x".repeat(length))] }), [alice], {
            ...DEFAULT_LIMITS,
            maxTransactionBytes: 10_000,
          }).wire,
        ).finish(),
        DEFAULT_LIMITS,
      );
    const sizes = Array.from({ length: 1200 }, (_, i) => i).filter((n) => at(n).ok);
    const largest = sizes[sizes.length - 1]!;
    const fits = at(largest);
    expect(fits.ok && fits.value.sizeBytes).toBeLessThanOrEqual(1232);
    expect(fits.ok && fits.value.sizeBytes).toBeGreaterThan(1228);
    const over = at(largest + 1);
    expect(!over.ok && over.error.code).toBe("OVERSIZE");
  });

  it("OVER_COMPUTE_LIMIT above maxTransactionComputeUnits; MALFORMED at 0", () => {
    const limits = { ...DEFAULT_LIMITS, maxTransactionComputeUnits: 2_000_000 };
    const over = buildTransaction(fields({ computeUnitLimit: 1_400_001 }), [alice], limits);
    expect(errorOf(over.wire).code).toBe("OVER_COMPUTE_LIMIT");
    expect(errorOf(over.wire).rejectReason).toBe(tx.RejectReason.REJECT_REASON_OVER_COMPUTE_LIMIT);
    const atLimit = buildTransaction(fields({ computeUnitLimit: 1_400_000 }), [alice], limits);
    expect(decodeTransaction(atLimit.wire, DEFAULT_LIMITS).ok).toBe(true);
    const zero = signRaw(encodeTransactionMessage([alice.publicKey], fields({ computeUnitLimit: 0 })));
    expect(errorOf(zero).code).toBe("MALFORMED");
  });

  it("BAD_SIGNATURE when any signature fails, unless verification is off", () => {
    const tampered: tx.Transaction = {
      message: built.wire.message,
      signatures: [built.wire.signatures[0]!, Uint8Array.from(built.wire.signatures[0]!)],
    };
    expect(errorOf(tampered).code).toBe("BAD_SIGNATURE");
    expect(errorOf(tampered).rejectReason).toBe(tx.RejectReason.REJECT_REASON_BAD_SIGNATURE);
    expect(decodeTransaction(tampered, DEFAULT_LIMITS, { verifySignatures: false }).ok).toBe(true);
    const otherDomain: tx.Transaction = {
      message: built.wire.message,
      signatures: [alice, bob].map((k) => signMessage(k, signingInput("simd23/vote/v1", built.wire.message))),
    };
    expect(errorOf(otherDomain).code).toBe("BAD_SIGNATURE");
  });

  it("MALFORMED: bytes that are not protobuf, never an exception", () => {
    for (const junk of [Uint8Array.of(0x0a, 0xff), Uint8Array.of(0xff), Uint8Array.of(0x12, 0x05, 1)]) {
      const error = errorOf(junk);
      expect(error.code).toBe("MALFORMED");
      expect(error.rejectReason).toBe(tx.RejectReason.REJECT_REASON_MALFORMED);
    }
    expect(errorOf({ message: Uint8Array.of(0x0a, 0x40), signatures: [new Uint8Array(64)] }).code).toBe(
      "MALFORMED",
    );
  });

  it("MALFORMED: encodings that are not canonical", () => {
    const withUnknownField = concatBytes(bytes, Uint8Array.of(0x18, 0x01));
    expect(errorOf(withUnknownField).detail).toMatch(/not canonical/);
    const message = concatBytes(built.wire.message, Uint8Array.of(0x30, 0x01));
    expect(errorOf(signRaw(message)).detail).toMatch(/message encoding is not canonical/);
    const invalidUtf8 = concatBytes(
      encodeTransactionMessage([alice.publicKey], fields({ instructions: [] })),
      // instructions[0] = { memo: { text: <the single byte 0xff> } }
      Uint8Array.of(0x2a, 0x05, 0x12, 0x03, 0x0a, 0x01, 0xff),
    );
    expect(errorOf(signRaw(invalidUtf8)).detail).toMatch(/not canonical/);
  });

  it("MALFORMED: every structural rule", () => {
    const cases: [string, Uint8Array[], Partial<TransactionFields>, RegExp][] = [
      ["no signers", [], {}, /at least one signer/],
      ["short signer", [new Uint8Array(31)], {}, /signer 0 is 31 bytes/],
      ["repeated signer", [alice.publicKey, alice.publicKey], {}, /signer 1 appears twice/],
      [
        "short blockhash",
        [alice.publicKey],
        { recentBlockhash: new Uint8Array(8) },
        /recentBlockhash is 8 bytes/,
      ],
      [
        "bad fromSigner",
        [alice.publicKey],
        { instructions: [transferInstruction(1, carol, 1n)] },
        /fromSigner 1 is not a signer index/,
      ],
      [
        "short receiver",
        [alice.publicKey],
        { instructions: [transferInstruction(0, new Uint8Array(5), 1n)] },
        /receiving key is 5 bytes/,
      ],
      ["empty instruction", [alice.publicKey], { instructions: [{ kind: undefined }] }, /has no kind/],
    ];
    for (const [, signers, overrides, detail] of cases) {
      const message = encodeTransactionMessage(signers, fields(overrides));
      const signatures = signers.map(() => new Uint8Array(64));
      expect(errorOf({ message, signatures }).detail).toMatch(detail);
    }
    const one = encodeTransactionMessage([alice.publicKey], fields());
    expect(errorOf({ message: one, signatures: [] }).detail).toMatch(/1 signers but 0 signatures/);
    expect(errorOf({ message: one, signatures: [new Uint8Array(63)] }).detail).toMatch(
      /signature 0 is 63 bytes/,
    );
  });

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (input) => {
        const decoded = decodeTransaction(input, DEFAULT_LIMITS);
        expect(decoded.ok).toBe(false);
      }),
    );
  });

  it("accepts every canonical transaction it built, whatever the fields", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_400_000 }),
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.array(
          fc.oneof(
            fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((l) => transferInstruction(0, carol, l)),
            fc.string({ maxLength: 40 }).map(memoInstruction),
            fc.nat().map(burnComputeInstruction),
          ),
          { maxLength: 5 },
        ),
        (computeUnitLimit, computeUnitPrice, instructions) => {
          const built = buildTransaction(
            { ...fields(), computeUnitLimit, computeUnitPrice, instructions },
            [alice],
            {
              ...DEFAULT_LIMITS,
            },
          );
          const decoded = decodeTransaction(tx.Transaction.encode(built.wire).finish(), DEFAULT_LIMITS);
          expect(decoded.ok).toBe(true);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe("compute units", () => {
  it("costs each instruction as documented", () => {
    expect(instructionComputeUnits(transferInstruction(0, carol, 5n))).toBe(TRANSFER_COMPUTE_UNITS);
    expect(instructionComputeUnits(memoInstruction("héllo"))).toBe(
      MEMO_BASE_COMPUTE_UNITS + 6 * MEMO_COMPUTE_UNITS_PER_BYTE,
    );
    expect(instructionComputeUnits(burnComputeInstruction(12_345))).toBe(12_345);
    expect([SIGNATURE_COMPUTE_UNITS, TRANSFER_COMPUTE_UNITS, MEMO_BASE_COMPUTE_UNITS]).toEqual([
      720, 150, 100,
    ]);
  });

  it("adds the signatures and every instruction", () => {
    const built = buildTransaction(
      fields({
        instructions: [transferInstruction(0, carol, 1n), memoInstruction("ab"), burnComputeInstruction(7)],
      }),
      [alice, bob],
      DEFAULT_LIMITS,
    );
    const expected = 2 * 720 + 150 + (100 + 2 * 10) + 7;
    expect(messageComputeUnits(built.message)).toBe(expected);
    expect(built.computeUnitsRequired).toBe(expected);
  });
});
