import type { Bus, Headers, PublishAck } from "@simd23/bus";
import { type EnvelopeKind, type Keypair, sealEnvelope } from "@simd23/core";

/** Publishes bodies sealed in a signed envelope (protocol.md §1): the one way a role puts a message on the bus. */
export class SignedPublisher {
  constructor(
    private readonly bus: Bus,
    readonly keypair: Keypair,
  ) {}

  publish(
    kind: EnvelopeKind,
    subject: string,
    body: Uint8Array,
    options: { readonly msgId?: string; readonly headers?: Headers } = {},
  ): Promise<PublishAck> {
    return this.bus.publish(subject, sealEnvelope(this.keypair, kind, body), options);
  }
}
