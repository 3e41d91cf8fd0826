import { envelope } from "@simd23/proto";
import { concatBytes, u32le, utf8 } from "../bytes.js";
import type { Genesis } from "../genesis.js";
import { type Keypair, PUBLIC_KEY_BYTES, SIGNATURE_BYTES, signMessage, verifySignature } from "../keys.js";

export const EnvelopeKind = envelope.Kind;
export type EnvelopeKind = envelope.Kind;
export type SignedEnvelope = envelope.Signed;

/** The signing domain of every bus envelope; the kind follows it, so a signature never crosses kinds. */
export const ENVELOPE_DOMAIN = "simd23/envelope/v1";
const ENVELOPE_DOMAIN_BYTES = utf8(ENVELOPE_DOMAIN);

/** The kinds a producer may seal; UNSPECIFIED and unknown numbers are never valid. */
export const ENVELOPE_KINDS: readonly EnvelopeKind[] = [
  EnvelopeKind.KIND_USER_BLOCK,
  EnvelopeKind.KIND_LEDGER,
  EnvelopeKind.KIND_VOTE,
  EnvelopeKind.KIND_BANK_HASH_REPORT,
  EnvelopeKind.KIND_SLOT_VERDICT,
  EnvelopeKind.KIND_MEMBERSHIP_REQUEST,
  EnvelopeKind.KIND_HALT,
  EnvelopeKind.KIND_MISMATCH_REPORT,
  EnvelopeKind.KIND_EQUIVOCATION_EVIDENCE,
  EnvelopeKind.KIND_INTAKE_ITEM,
];

const KNOWN_KINDS = new Set<number>(ENVELOPE_KINDS);

/** Which genesis role may produce a kind. */
export type ProducerRole = "leader" | "validator" | "proposer" | "verifier";

const PRODUCER_OF_KIND: ReadonlyMap<EnvelopeKind, ProducerRole> = new Map([
  [EnvelopeKind.KIND_LEDGER, "leader"],
  [EnvelopeKind.KIND_VOTE, "validator"],
  [EnvelopeKind.KIND_BANK_HASH_REPORT, "validator"],
  [EnvelopeKind.KIND_USER_BLOCK, "proposer"],
  [EnvelopeKind.KIND_MEMBERSHIP_REQUEST, "proposer"],
  [EnvelopeKind.KIND_SLOT_VERDICT, "verifier"],
  [EnvelopeKind.KIND_MISMATCH_REPORT, "verifier"],
  [EnvelopeKind.KIND_HALT, "verifier"],
  [EnvelopeKind.KIND_EQUIVOCATION_EVIDENCE, "leader"],
  [EnvelopeKind.KIND_INTAKE_ITEM, "proposer"],
]);

export function isEnvelopeKind(kind: number): kind is EnvelopeKind {
  return KNOWN_KINDS.has(kind);
}

/** The genesis role whose members may produce envelopes of this kind. */
export function producerRoleOf(kind: EnvelopeKind): ProducerRole {
  const role = PRODUCER_OF_KIND.get(kind);
  if (role === undefined) throw new RangeError(`not an envelope kind: ${kind}`);
  return role;
}

/** The exact bytes an envelope signature covers: "simd23/envelope/v1" ‖ u32le(kind) ‖ body. */
export function envelopeSigningInput(kind: EnvelopeKind, body: Uint8Array): Uint8Array {
  return concatBytes(ENVELOPE_DOMAIN_BYTES, u32le(kind), body);
}

/** Signs a body as the given kind. Throws a RangeError on a kind that is not an envelope kind. */
export function signEnvelope(keypair: Keypair, kind: EnvelopeKind, body: Uint8Array): SignedEnvelope {
  if (!isEnvelopeKind(kind)) throw new RangeError(`not an envelope kind: ${kind}`);
  return {
    kind,
    body,
    signer: keypair.publicKey,
    signature: signMessage(keypair, envelopeSigningInput(kind, body)),
  };
}

/** Signs and encodes: the bytes a producer publishes on the bus. */
export function sealEnvelope(keypair: Keypair, kind: EnvelopeKind, body: Uint8Array): Uint8Array {
  return envelope.Signed.encode(signEnvelope(keypair, kind, body)).finish();
}

export type EnvelopeErrorCode = "malformed" | "wrong-kind" | "bad-signature" | "unauthorized-signer";

/** Why an envelope was refused; the consumer logs it and drops the message. */
export class EnvelopeError extends Error {
  constructor(
    readonly code: EnvelopeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "EnvelopeError";
  }
}

export interface OpenedEnvelope {
  readonly kind: EnvelopeKind;
  readonly body: Uint8Array;
  /** The producer's identity, checked against genesis for the kind (for LEDGER: a leader; whether it is
   * the scheduled leader of a given slot is the ledger replayer's check). */
  readonly signer: Uint8Array;
}

export type OpenEnvelopeResult =
  | { readonly ok: true; readonly envelope: OpenedEnvelope }
  | { readonly ok: false; readonly error: EnvelopeError };

interface Authority {
  readonly leaders: ReadonlySet<string>;
  readonly validators: ReadonlySet<string>;
  readonly proposers: ReadonlySet<string>;
  readonly verifier: string;
}

const keyId = (key: Uint8Array): string =>
  Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("hex");

// Envelopes are opened on every message; the identity sets are built once per genesis object.
const authorities = new WeakMap<Genesis, Authority>();

function authorityOf(genesis: Genesis): Authority {
  let authority = authorities.get(genesis);
  if (authority === undefined) {
    authority = {
      leaders: new Set(genesis.validators.filter((v) => v.runsLeader).map((v) => keyId(v.identity))),
      validators: new Set(genesis.validators.map((v) => keyId(v.identity))),
      proposers: new Set(genesis.proposerPool.map((p) => keyId(p.identity))),
      verifier: keyId(genesis.verifier),
    };
    authorities.set(genesis, authority);
  }
  return authority;
}

/** Whether genesis lets this identity produce envelopes of this kind. */
export function mayProduce(genesis: Genesis, kind: EnvelopeKind, signer: Uint8Array): boolean {
  if (!isEnvelopeKind(kind)) return false;
  const authority = authorityOf(genesis);
  const id = keyId(signer);
  switch (producerRoleOf(kind)) {
    case "leader":
      return authority.leaders.has(id);
    case "validator":
      return authority.validators.has(id);
    case "proposer":
      return authority.proposers.has(id);
    case "verifier":
      return authority.verifier === id;
  }
}

const refuse = (code: EnvelopeErrorCode, message: string): { ok: false; error: EnvelopeError } => ({
  ok: false,
  error: new EnvelopeError(code, message),
});

export type ReadEnvelopeResult =
  | { readonly ok: true; readonly envelope: SignedEnvelope }
  | { readonly ok: false; readonly error: EnvelopeError };

/**
 * The checks before the signature, in openEnvelope's order: the bytes decode, the kind is known
 * and one the caller expects, the signer and signature have their lengths. A consumer that
 * verifies signatures off its event loop calls this, verifies the signature over
 * `envelopeSigningInput(kind, body)` itself, then settles the result with {@link authorizeEnvelope}.
 */
export function readEnvelope(
  input: Uint8Array | SignedEnvelope,
  expected?: EnvelopeKind | readonly EnvelopeKind[],
): ReadEnvelopeResult {
  let signed: SignedEnvelope;
  if (input instanceof Uint8Array) {
    try {
      signed = envelope.Signed.decode(input);
    } catch (error) {
      return refuse("malformed", `envelope does not decode: ${(error as Error).message}`);
    }
  } else {
    signed = input;
  }
  const { kind, signer, signature } = signed;
  if (!isEnvelopeKind(kind)) return refuse("malformed", `unknown envelope kind ${kind}`);
  if (signer.length !== PUBLIC_KEY_BYTES)
    return refuse("malformed", `signer is ${signer.length} bytes, a public key is ${PUBLIC_KEY_BYTES}`);
  if (signature.length !== SIGNATURE_BYTES)
    return refuse("malformed", `signature is ${signature.length} bytes, expected ${SIGNATURE_BYTES}`);
  if (expected !== undefined) {
    const allowed = typeof expected === "number" ? [expected] : expected;
    if (!allowed.includes(kind)) {
      const names = allowed.map((k) => envelope.kindToJSON(k)).join(" or ");
      return refuse("wrong-kind", `expected ${names}, got ${envelope.kindToJSON(kind)}`);
    }
  }
  return { ok: true, envelope: signed };
}

/**
 * The checks after the signature, in openEnvelope's order: `signatureVerifies` is the result of
 * verifying `signed.signature` by `signed.signer` over `envelopeSigningInput(kind, body)`; then the
 * signer must be one genesis lets produce the kind. `signed` must have passed {@link readEnvelope}.
 */
export function authorizeEnvelope(
  genesis: Genesis,
  signed: SignedEnvelope,
  signatureVerifies: boolean,
): OpenEnvelopeResult {
  const { kind, body, signer } = signed;
  if (!signatureVerifies) {
    return refuse("bad-signature", `${envelope.kindToJSON(kind)} signature does not verify for its signer`);
  }
  if (!mayProduce(genesis, kind, signer)) {
    return refuse(
      "unauthorized-signer",
      `${envelope.kindToJSON(kind)} must come from a ${producerRoleOf(kind)} of the genesis; its signer is not one`,
    );
  }
  return { ok: true, envelope: { kind, body, signer } };
}

/**
 * Checks an envelope in a fixed order — it decodes, its kind is known and one the caller expects,
 * its signature verifies, its signer may produce that kind — and returns the body only when all
 * hold. Nothing is decoded from the body: the caller decodes bytes it now knows who signed.
 */
export function openEnvelope(
  genesis: Genesis,
  input: Uint8Array | SignedEnvelope,
  expected?: EnvelopeKind | readonly EnvelopeKind[],
): OpenEnvelopeResult {
  const read = readEnvelope(input, expected);
  if (!read.ok) return read;
  const { kind, body, signer, signature } = read.envelope;
  return authorizeEnvelope(
    genesis,
    read.envelope,
    verifySignature(signer, envelopeSigningInput(kind, body), signature),
  );
}
