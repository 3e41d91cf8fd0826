import { isBusError } from "@simd23/bus";
import type { EnvelopeKind } from "@simd23/core";
import type { SignedPublisher } from "@simd23/runtime";
import type { Logger } from "@simd23/service-kit";
import type { Clock } from "../clock.js";

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 2_000;

/**
 * Publishes without holding the caller up: the PoH keeps its schedule while
 * the server acknowledges. Publishes leave in call order (one bus keeps its
 * order); one that fails while the server is away is retried with the same
 * msgId, so the server stores it exactly once, until it is stored (a shutdown
 * waits for that, up to its deadline). A retried entry may land after later
 * ones, which ledger readers allow: they assemble a slot by entry index. An
 * error no retry can fix (a bad argument, a closed bus) is logged and dropped.
 */
export class Outbox {
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly publisher: SignedPublisher,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  publish(kind: EnvelopeKind, subject: string, body: Uint8Array, msgId: string): void {
    const delivery = this.deliver(kind, subject, body, msgId).finally(() => this.inFlight.delete(delivery));
    this.inFlight.add(delivery);
  }

  /** Waits for every publish so far to be stored (or given up). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private async deliver(kind: EnvelopeKind, subject: string, body: Uint8Array, msgId: string): Promise<void> {
    for (let attempt = 1, delay = FIRST_RETRY_MS; ; attempt++, delay = Math.min(2 * delay, MAX_RETRY_MS)) {
      try {
        await this.publisher.publish(kind, subject, body, { msgId });
        if (attempt > 1) this.logger.info({ subject, msgId, attempt }, "published after retrying");
        return;
      } catch (error) {
        const final = isBusError(error, "INVALID_ARGUMENT") || isBusError(error, "CLOSED");
        if (final) {
          this.logger.error({ err: error, subject, msgId, attempt }, "publish given up");
          return;
        }
        if (attempt === 1) this.logger.warn({ err: error, subject, msgId }, "publish failed: retrying");
        await this.clock.sleep(delay);
      }
    }
  }
}
