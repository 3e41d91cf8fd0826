import { describe, expect, it } from "vitest";
import { envelope, tx } from "./index.js";

describe("wire format", () => {
  it("round-trips a transaction message with 64-bit fields as bigint", () => {
    const message: tx.TransactionMessage = {
      signers: [new Uint8Array(32).fill(7)],
      recentBlockhash: new Uint8Array(32).fill(9),
      computeUnitLimit: 200_000,
      computeUnitPrice: 2n ** 63n + 5n,
      instructions: [
        {
          kind: {
            $case: "transfer",
            value: { fromSigner: 0, to: new Uint8Array(32).fill(1), lamports: 42n },
          },
        },
        { kind: { $case: "memo", value: { text: "hello" } } },
      ],
    };
    const bytes = tx.TransactionMessage.encode(message).finish();
    expect(tx.TransactionMessage.decode(bytes)).toEqual(message);
  });

  it("rejects truncated input with an error instead of a partial message", () => {
    const bytes = envelope.Signed.encode({
      kind: envelope.Kind.KIND_VOTE,
      body: new Uint8Array(100).fill(3),
      signer: new Uint8Array(32),
      signature: new Uint8Array(64),
    }).finish();
    expect(() => envelope.Signed.decode(bytes.subarray(0, 50))).toThrow();
  });
});
