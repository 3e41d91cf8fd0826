import { toHex } from "@simd23/core";
import type { ledger } from "@simd23/proto";

/** A proposer's signed membership request as it came off CONTROL. */
export interface QueuedRequest {
  readonly request: ledger.MembershipRequest;
  /** The envelope body: the encoded request the proposer signed. */
  readonly body: Uint8Array;
  /** The envelope signature over it. */
  readonly signature: Uint8Array;
}

/**
 * Membership requests waiting for this leader's next slot. Every leader
 * replica queues every request; the first to lead records it and the others'
 * attempts are then refused by their chain's schedule (REPLAYED, NOT_A_CHANGE),
 * which is how a request recorded on an abandoned fork still gets recorded on
 * the chain that survives. A request leaves the queue once recorded, refused
 * for good, or past its validity.
 */
export class MembershipQueue {
  private readonly requests = new Map<string, QueuedRequest>();

  get size(): number {
    return this.requests.size;
  }

  /** False when the same signed request is already waiting. */
  add(request: QueuedRequest): boolean {
    const key = toHex(request.signature);
    if (this.requests.has(key)) return false;
    this.requests.set(key, request);
    return true;
  }

  /** Waiting requests in arrival order. */
  waiting(): QueuedRequest[] {
    return [...this.requests.values()];
  }

  remove(request: QueuedRequest): void {
    this.requests.delete(toHex(request.signature));
  }

  /** Removes and returns the requests no slot from `slot` on may record (older than the validity window). */
  expire(slot: number, validitySlots: number): QueuedRequest[] {
    const expired = this.waiting().filter((q) => slot - q.request.requestedAtSlot > validitySlots);
    for (const q of expired) this.remove(q);
    return expired;
  }
}
