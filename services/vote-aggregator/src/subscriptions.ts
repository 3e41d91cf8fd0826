import { ConfirmationLevel, type ConfirmationStatus, type StatusChange, UNSEEN_STATUS } from "@simd23/core";
import type { voteaggregator } from "@simd23/proto";
import { isTerminal, mergeStatus, type StatusUpdate, signatureKey } from "./statuses.js";

type Message = voteaggregator.SubscribeSignaturesResponse;

/** Where a subscription's messages go: a gRPC server stream, or anything that writes like one. */
export interface SubscriptionSink {
  /** Writes a message; false asks the writer to wait for `drain` before the next one. */
  write(message: Message): boolean;
  /** Calls back once, at the next drain. */
  onceDrain(callback: () => void): void;
  /** Calls back once, when the client goes away. */
  onceCancelled(callback: () => void): void;
}

/** How a subscription ended without an error. */
export type SubscriptionEnd = "complete" | "cancelled" | "shutdown";

/** The client did not read fast enough: more than `limit` messages waited for it. */
export class SubscriberTooSlowError extends Error {
  constructor(readonly limit: number) {
    super(
      `more than ${limit} messages waited for this subscriber: the stream is closed; subscribe again to get the current levels`,
    );
    this.name = "SubscriberTooSlowError";
  }
}

/** The messages that tell a subscriber of a change: one per level newly reached. */
export function messagesOf(
  signature: Uint8Array,
  status: ConfirmationStatus,
  change: StatusChange,
): Message[] {
  const message = (reached: voteaggregator.LevelReached): Message => ({
    signature,
    reached,
    result:
      reached.level >= ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED &&
      reached.level !== ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED
        ? (status.result ?? undefined)
        : undefined,
    droppedReason:
      reached.level === ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED ? (status.droppedReason ?? "") : "",
  });
  const messages = change.reached.map(message);
  const carriesResult = change.reached.some(
    (l) =>
      l.level >= ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED &&
      l.level !== ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED,
  );
  // A result that arrived after its level: the level again, now with the result.
  const top = status.levels.at(-1);
  if (change.resultAttached && !carriesResult && top !== undefined) messages.push(message(top));
  return messages;
}

/**
 * One SubscribeSignatures stream. With signatures, it keeps each one's status as the client has
 * been told it, so it sends only what is new to the client and never a level twice, whichever
 * source (the status index, this replica) tells it first; it completes once every signature is
 * finalized or dropped. Without signatures it relays every change this replica sees.
 *
 * Slow subscribers: messages wait in a queue of at most `maxQueued`; a subscriber that lets
 * more pile up is closed with SubscriberTooSlowError (memory stays bounded; a client
 * subscribing again first receives the current levels, so it loses nothing it asked for).
 */
export class Subscription {
  private readonly watched: Map<string, { signature: Uint8Array; status: ConfirmationStatus }> | null;
  private queue: Message[] = [];
  private head = 0;
  private overflowed = false;
  private cancelled = false;
  private wake: (() => void) | undefined;

  constructor(
    signatures: readonly Uint8Array[],
    private readonly maxQueued: number,
  ) {
    this.watched =
      signatures.length === 0
        ? null
        : new Map(
            signatures.map((signature) => [signatureKey(signature), { signature, status: UNSEEN_STATUS }]),
          );
  }

  /** The signatures asked for; empty for a subscription to every transaction. */
  get signatures(): Uint8Array[] {
    return this.watched === null ? [] : [...this.watched.values()].map((w) => w.signature);
  }

  get everySignature(): boolean {
    return this.watched === null;
  }

  /** Signatures asked for that may still change. */
  get open(): Uint8Array[] {
    if (this.watched === null) return [];
    return [...this.watched.values()].filter((w) => !isTerminal(w.status)).map((w) => w.signature);
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  private get complete(): boolean {
    return this.watched !== null && [...this.watched.values()].every((w) => isTerminal(w.status));
  }

  /** A status one source knows for a signature asked for: queues the levels new to the client. */
  learn(signature: Uint8Array, status: ConfirmationStatus): void {
    const watched = this.watched?.get(signatureKey(signature));
    if (watched === undefined) return;
    const change = mergeStatus(watched.status, status);
    watched.status = change.status;
    this.enqueue(messagesOf(watched.signature, change.status, change));
  }

  /** A change this replica saw. */
  relay(update: StatusUpdate): void {
    if (this.watched === null) this.enqueue(messagesOf(update.signature, update.status, update.change));
    else this.learn(update.signature, update.status);
  }

  private enqueue(messages: readonly Message[]): void {
    if (messages.length === 0 || this.overflowed) return;
    if (this.queued + messages.length > this.maxQueued) {
      this.overflowed = true;
      this.queue = [];
      this.head = 0;
    } else {
      this.queue.push(...messages);
    }
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private next(): Message | undefined {
    if (this.head >= this.queue.length) return undefined;
    const message = this.queue[this.head++];
    if (this.head > 1_024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return message;
  }

  /**
   * Writes queued messages to the sink as fast as it drains, until the subscription completes,
   * the client cancels or `signal` aborts (shutdown). Throws SubscriberTooSlowError on overflow.
   */
  async pipe(sink: SubscriptionSink, signal: AbortSignal): Promise<SubscriptionEnd> {
    sink.onceCancelled(() => {
      this.cancelled = true;
      this.notify();
    });
    const onAbort = () => this.notify();
    signal.addEventListener("abort", onAbort);
    try {
      for (;;) {
        if (this.overflowed) throw new SubscriberTooSlowError(this.maxQueued);
        if (this.cancelled) return "cancelled";
        if (signal.aborted) return "shutdown";
        const message = this.next();
        if (message !== undefined) {
          if (!sink.write(message)) await this.waitFor((resume) => sink.onceDrain(resume));
          continue;
        }
        if (this.complete) return "complete";
        await this.waitFor(() => {});
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  // Resolves on the next notify (new messages, cancel, abort) or when `arm` calls back.
  private waitFor(arm: (resume: () => void) => void): Promise<void> {
    return new Promise<void>((resolve) => {
      this.wake = resolve;
      arm(() => {
        if (this.wake === resolve) this.wake = undefined;
        resolve();
      });
    });
  }
}

/** Every open subscription, and which of them asked for which signature. */
export class SubscriptionHub {
  private readonly all = new Set<Subscription>();
  private readonly everything = new Set<Subscription>();
  private readonly bySignature = new Map<string, Set<Subscription>>();

  get size(): number {
    return this.all.size;
  }

  add(subscription: Subscription): void {
    this.all.add(subscription);
    if (subscription.everySignature) {
      this.everything.add(subscription);
      return;
    }
    for (const signature of subscription.signatures) {
      const key = signatureKey(signature);
      let subscriptions = this.bySignature.get(key);
      if (subscriptions === undefined) {
        subscriptions = new Set();
        this.bySignature.set(key, subscriptions);
      }
      subscriptions.add(subscription);
    }
  }

  remove(subscription: Subscription): void {
    this.all.delete(subscription);
    this.everything.delete(subscription);
    for (const signature of subscription.signatures) {
      const key = signatureKey(signature);
      const subscriptions = this.bySignature.get(key);
      subscriptions?.delete(subscription);
      if (subscriptions?.size === 0) this.bySignature.delete(key);
    }
  }

  /** A change this replica saw: to every subscriber of everything and of that signature. */
  publish(update: StatusUpdate): void {
    for (const subscription of this.everything) subscription.relay(update);
    const subscriptions = this.bySignature.get(signatureKey(update.signature));
    if (subscriptions !== undefined) for (const s of subscriptions) s.relay(update);
  }

  /** A status read from elsewhere (the status index): to the subscribers of that signature. */
  learn(signature: Uint8Array, status: ConfirmationStatus): void {
    const subscriptions = this.bySignature.get(signatureKey(signature));
    if (subscriptions !== undefined) for (const s of subscriptions) s.learn(signature, status);
  }

  /** Signatures some subscriber asked for that may still change (each once). */
  openSignatures(): Uint8Array[] {
    const out = new Map<string, Uint8Array>();
    for (const subscription of this.all) {
      for (const signature of subscription.open) out.set(signatureKey(signature), signature);
    }
    return [...out.values()];
  }
}
