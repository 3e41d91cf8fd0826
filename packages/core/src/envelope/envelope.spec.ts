import { control, envelope, vote } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { fromHex, toHex } from "../bytes.js";
import { createTestnetGenesis, KEY_ROLES } from "../genesis.js";
import { deriveKeypair, verifySignature } from "../keys.js";
import {
  authorizeEnvelope,
  ENVELOPE_KINDS,
  EnvelopeKind,
  envelopeSigningInput,
  mayProduce,
  openEnvelope,
  producerRoleOf,
  readEnvelope,
  sealEnvelope,
  signEnvelope,
} from "./envelope.js";

const clusterSeed = new Uint8Array(32).fill(5);
const genesis = createTestnetGenesis({
  clusterName: "envelopes",
  clusterSeed,
  startTimeMs: 0n,
  validators: 3,
  leaders: 1,
  proposerPool: 2,
});
const leader = deriveKeypair(clusterSeed, KEY_ROLES.validator, 0);
const validatorWithoutLeader = deriveKeypair(clusterSeed, KEY_ROLES.validator, 2);
const proposer = deriveKeypair(clusterSeed, KEY_ROLES.proposer, 1);
const verifier = deriveKeypair(clusterSeed, KEY_ROLES.verifier, 0);
const outsider = deriveKeypair(new Uint8Array(32).fill(6), KEY_ROLES.validator, 0);
const body = fromHex("deadbeef");

function errorOf(result: ReturnType<typeof openEnvelope>) {
  if (result.ok) throw new Error("expected a refusal");
  return result.error;
}

describe("envelope signing input", () => {
  it('is "simd23/envelope/v1" ‖ u32le(kind) ‖ body', () => {
    expect(toHex(envelopeSigningInput(EnvelopeKind.KIND_VOTE, body))).toBe(
      `${toHex(new TextEncoder().encode("simd23/envelope/v1"))}03000000deadbeef`,
    );
    expect(toHex(envelopeSigningInput(EnvelopeKind.KIND_MISMATCH_REPORT, new Uint8Array(0)))).toBe(
      "73696d6432332f656e76656c6f70652f763108000000",
    );
  });

  it("produces an ed25519 signature over that input by the signer", () => {
    const signed = signEnvelope(leader, EnvelopeKind.KIND_LEDGER, body);
    expect(signed.signer).toEqual(leader.publicKey);
    expect(
      verifySignature(
        leader.publicKey,
        envelopeSigningInput(EnvelopeKind.KIND_LEDGER, body),
        signed.signature,
      ),
    ).toBe(true);
    expect(() => signEnvelope(leader, EnvelopeKind.KIND_UNSPECIFIED, body)).toThrow(RangeError);
  });
});

describe("openEnvelope", () => {
  it("opens each kind sealed by its producer and returns the exact body and signer", () => {
    const producers: Record<string, typeof leader> = {
      leader,
      validator: validatorWithoutLeader,
      proposer,
      verifier,
    };
    for (const kind of ENVELOPE_KINDS) {
      const keypair = producers[producerRoleOf(kind)]!;
      const opened = openEnvelope(genesis, sealEnvelope(keypair, kind, body), kind);
      expect(opened).toEqual({ ok: true, envelope: { kind, body, signer: keypair.publicKey } });
    }
  });

  it("accepts the already-decoded envelope and a list of expected kinds", () => {
    const signed = signEnvelope(validatorWithoutLeader, EnvelopeKind.KIND_BANK_HASH_REPORT, body);
    const opened = openEnvelope(genesis, signed, [
      EnvelopeKind.KIND_VOTE,
      EnvelopeKind.KIND_BANK_HASH_REPORT,
    ]);
    expect(opened.ok).toBe(true);
  });

  it("refuses a forged halt: signed by a validator, not the genesis verifier", () => {
    const halt = control.Halt.encode({
      slot: 9,
      tally: { matched: 0n, mismatched: 3n, missing: 0n, total: 3n },
      evidence: [],
      reason: "forged",
      haltedAtMs: 1n,
    }).finish();
    const error = errorOf(
      openEnvelope(genesis, sealEnvelope(leader, EnvelopeKind.KIND_HALT, halt), EnvelopeKind.KIND_HALT),
    );
    expect(error.code).toBe("unauthorized-signer");
    expect(error.message).toMatch(/KIND_HALT must come from a verifier/);
  });

  it("refuses a halt whose signer field names the verifier but whose signature is someone else's", () => {
    const forged = signEnvelope(leader, EnvelopeKind.KIND_HALT, body);
    const error = errorOf(
      openEnvelope(genesis, { ...forged, signer: verifier.publicKey }, EnvelopeKind.KIND_HALT),
    );
    expect(error.code).toBe("bad-signature");
  });

  it("refuses a vote from a key that is not a genesis validator", () => {
    const signedVote = vote.SignedVote.encode({ vote: body, signature: new Uint8Array(64) }).finish();
    const error = errorOf(openEnvelope(genesis, sealEnvelope(outsider, EnvelopeKind.KIND_VOTE, signedVote)));
    expect(error.code).toBe("unauthorized-signer");
  });

  it("refuses LEDGER from a validator that runs no leader, and a UserBlock from a validator", () => {
    expect(
      errorOf(openEnvelope(genesis, sealEnvelope(validatorWithoutLeader, EnvelopeKind.KIND_LEDGER, body)))
        .code,
    ).toBe("unauthorized-signer");
    expect(
      errorOf(openEnvelope(genesis, sealEnvelope(leader, EnvelopeKind.KIND_USER_BLOCK, body))).code,
    ).toBe("unauthorized-signer");
  });

  it("refuses a body changed after signing and a signature replayed under another kind", () => {
    const signed = signEnvelope(verifier, EnvelopeKind.KIND_SLOT_VERDICT, body);
    expect(errorOf(openEnvelope(genesis, { ...signed, body: fromHex("deadbeee") })).code).toBe(
      "bad-signature",
    );
    expect(errorOf(openEnvelope(genesis, { ...signed, kind: EnvelopeKind.KIND_HALT })).code).toBe(
      "bad-signature",
    );
  });

  it("refuses a kind the caller did not expect before checking the signature", () => {
    const error = errorOf(
      openEnvelope(genesis, sealEnvelope(verifier, EnvelopeKind.KIND_HALT, body), EnvelopeKind.KIND_VOTE),
    );
    expect(error.code).toBe("wrong-kind");
    expect(error.message).toBe("expected KIND_VOTE, got KIND_HALT");
  });

  it("refuses bytes that do not decode, unknown kinds and wrong key or signature lengths", () => {
    const good = sealEnvelope(leader, EnvelopeKind.KIND_LEDGER, body);
    expect(errorOf(openEnvelope(genesis, good.subarray(0, good.length - 3))).code).toBe("malformed");
    const signed = signEnvelope(leader, EnvelopeKind.KIND_LEDGER, body);
    for (const kind of [EnvelopeKind.KIND_UNSPECIFIED, 99 as EnvelopeKind, EnvelopeKind.UNRECOGNIZED]) {
      expect(errorOf(openEnvelope(genesis, { ...signed, kind })).code).toBe("malformed");
    }
    expect(errorOf(openEnvelope(genesis, { ...signed, signer: leader.publicKey.subarray(1) })).code).toBe(
      "malformed",
    );
    expect(errorOf(openEnvelope(genesis, { ...signed, signature: new Uint8Array(63) })).code).toBe(
      "malformed",
    );
    const decoded = envelope.Signed.decode(good);
    expect(openEnvelope(genesis, decoded).ok).toBe(true);
  });
});

describe("readEnvelope and authorizeEnvelope", () => {
  it("split openEnvelope at the signature, so a consumer can verify it off its event loop", () => {
    for (const kind of ENVELOPE_KINDS) {
      const sealed = sealEnvelope(proposer, kind, body);
      const read = readEnvelope(sealed, kind);
      if (!read.ok) throw read.error;
      const { signer, signature } = read.envelope;
      const verifies = verifySignature(signer, envelopeSigningInput(kind, body), signature);
      expect(authorizeEnvelope(genesis, read.envelope, verifies)).toEqual(
        openEnvelope(genesis, sealed, kind),
      );
    }
  });

  it("refuse what openEnvelope refuses, with the same codes, in the same order", () => {
    const sealed = sealEnvelope(leader, EnvelopeKind.KIND_INTAKE_ITEM, body);
    expect(errorOf(readEnvelope(sealed.subarray(0, 5))).code).toBe("malformed");
    expect(errorOf(readEnvelope(sealed, EnvelopeKind.KIND_USER_BLOCK)).code).toBe("wrong-kind");
    const read = readEnvelope(sealed, EnvelopeKind.KIND_INTAKE_ITEM);
    if (!read.ok) throw read.error;
    expect(errorOf(authorizeEnvelope(genesis, read.envelope, false)).code).toBe("bad-signature");
    expect(errorOf(authorizeEnvelope(genesis, read.envelope, true)).code).toBe("unauthorized-signer");
    expect(errorOf(openEnvelope(genesis, sealed)).code).toBe("unauthorized-signer");
  });
});

describe("INTAKE items", () => {
  it("are sealed by a pool proposer: a validator's, a leader's or an outsider's item is refused", () => {
    const item = sealEnvelope(proposer, EnvelopeKind.KIND_INTAKE_ITEM, body);
    expect(openEnvelope(genesis, item, EnvelopeKind.KIND_INTAKE_ITEM).ok).toBe(true);
    for (const forger of [leader, validatorWithoutLeader, verifier, outsider]) {
      const forged = sealEnvelope(forger, EnvelopeKind.KIND_INTAKE_ITEM, body);
      expect(errorOf(openEnvelope(genesis, forged, EnvelopeKind.KIND_INTAKE_ITEM)).code).toBe(
        "unauthorized-signer",
      );
    }
    const userBlock = sealEnvelope(proposer, EnvelopeKind.KIND_USER_BLOCK, body);
    expect(
      errorOf(
        openEnvelope(genesis, { ...envelope.Signed.decode(userBlock), kind: EnvelopeKind.KIND_INTAKE_ITEM }),
      ).code,
    ).toBe("bad-signature");
  });
});

describe("mayProduce", () => {
  it("follows genesis roles for every kind", () => {
    expect(mayProduce(genesis, EnvelopeKind.KIND_LEDGER, leader.publicKey)).toBe(true);
    expect(mayProduce(genesis, EnvelopeKind.KIND_VOTE, leader.publicKey)).toBe(true);
    expect(mayProduce(genesis, EnvelopeKind.KIND_MEMBERSHIP_REQUEST, proposer.publicKey)).toBe(true);
    expect(mayProduce(genesis, EnvelopeKind.KIND_INTAKE_ITEM, proposer.publicKey)).toBe(true);
    expect(mayProduce(genesis, EnvelopeKind.KIND_INTAKE_ITEM, leader.publicKey)).toBe(false);
    expect(mayProduce(genesis, EnvelopeKind.KIND_MISMATCH_REPORT, verifier.publicKey)).toBe(true);
    expect(mayProduce(genesis, EnvelopeKind.KIND_VOTE, verifier.publicKey)).toBe(false);
    expect(mayProduce(genesis, EnvelopeKind.KIND_SLOT_VERDICT, leader.publicKey)).toBe(false);
    expect(mayProduce(genesis, EnvelopeKind.KIND_UNSPECIFIED, verifier.publicKey)).toBe(false);
  });
});
