import { advanceStatus, ConfirmationLevel, dropStatus, UNSEEN_STATUS } from "@simd23/core";
import type { control, voteaggregator } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { StatusBook } from "./statuses.js";
import {
  SubscriberTooSlowError,
  Subscription,
  SubscriptionHub,
  type SubscriptionSink,
} from "./subscriptions.js";

const L = ConfirmationLevel;
const signature = (n: number) => new Uint8Array(64).fill(n);
const resultOf = (n: number): control.TransactionResult => ({
  signature: signature(n),
  status: 1,
  fee: 5_000n,
  slot: 3,
  userBlockSlot: 6,
  proposer: new Uint8Array(32).fill(9),
});

/** A client stream: `accepting` false stops draining, as a client that stopped reading. */
class TestSink implements SubscriptionSink {
  readonly received: voteaggregator.SubscribeSignaturesResponse[] = [];
  accepting = true;
  private drain: (() => void) | undefined;
  private cancel: (() => void) | undefined;
  write(message: voteaggregator.SubscribeSignaturesResponse): boolean {
    this.received.push(message);
    return this.accepting;
  }
  onceDrain(callback: () => void): void {
    this.drain = callback;
  }
  onceCancelled(callback: () => void): void {
    this.cancel = callback;
  }
  resume(): void {
    this.accepting = true;
    this.drain?.();
  }
  cancelNow(): void {
    this.cancel?.();
  }
  get levels(): [number, number, number][] {
    return this.received.map((m) => [m.signature[0]!, m.reached!.level, Number(m.reached!.timeMs)]);
  }
}

function wire(book: StatusBook, hub: SubscriptionHub): void {
  book.onUpdate((update) => hub.publish(update));
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("SubscribeSignatures fan-out", () => {
  it("sends the current levels first, then each new level once, and completes when all are final", async () => {
    const book = new StatusBook(100);
    const hub = new SubscriptionHub();
    wire(book, hub);
    const subscription = new Subscription([signature(1), signature(2)], 100);
    hub.add(subscription);
    // The status index already holds what a proposer wrote.
    subscription.learn(signature(1), advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_RECEIVED, 100).status);
    const sink = new TestSink();
    const ended = subscription.pipe(sink, new AbortController().signal);

    book.advance(signature(1), L.CONFIRMATION_LEVEL_RECORDED, 400);
    book.advance(signature(3), L.CONFIRMATION_LEVEL_RECORDED, 400);
    book.advance(signature(1), L.CONFIRMATION_LEVEL_OPTIMISTIC, 700);
    // Another source repeating what the client was told changes nothing.
    subscription.learn(signature(1), book.get(signature(1)));
    book.advance(signature(1), L.CONFIRMATION_LEVEL_EXECUTED, 900, resultOf(1));
    book.advance(signature(1), L.CONFIRMATION_LEVEL_FINALIZED, 1_500);
    await tick();
    expect(sink.levels).toEqual([
      [1, 1, 100],
      [1, 2, 400],
      [1, 3, 400],
      [1, 4, 700],
      [1, 5, 900],
      [1, 6, 1_500],
    ]);
    expect(sink.received[4]!.result).toEqual(resultOf(1));
    expect(sink.received[5]!.result).toEqual(resultOf(1));
    expect(sink.received[3]!.result).toBeUndefined();

    // The second signature is dropped (a proposer wrote it to the index): the stream completes.
    const dropped = dropStatus(
      advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_RECEIVED, 200).status,
      "blockhash expired",
      2_000,
    ).status;
    hub.learn(signature(2), dropped);
    await expect(ended).resolves.toBe("complete");
    expect(sink.levels.slice(-2)).toEqual([
      [2, 1, 200],
      [2, 7, 2_000],
    ]);
    expect(sink.received.at(-1)!.droppedReason).toBe("blockhash expired");
    hub.remove(subscription);
    expect(hub.size).toBe(0);
  });

  it("relays every transaction's levels to a subscriber of everything, and ends on cancel or shutdown", async () => {
    const book = new StatusBook(100);
    const hub = new SubscriptionHub();
    wire(book, hub);
    const everything = new Subscription([], 100);
    const another = new Subscription([], 100);
    hub.add(everything);
    hub.add(another);
    expect(hub.size).toBe(2);
    const sink = new TestSink();
    const shutdown = new AbortController();
    const ended = everything.pipe(sink, shutdown.signal);
    const otherSink = new TestSink();
    const otherEnded = another.pipe(otherSink, new AbortController().signal);
    book.advance(signature(4), L.CONFIRMATION_LEVEL_PROPOSED, 10);
    book.advance(signature(5), L.CONFIRMATION_LEVEL_RECORDED, 20);
    await tick();
    expect(sink.levels).toEqual([
      [4, 1, 10],
      [4, 2, 10],
      [5, 1, 20],
      [5, 2, 20],
      [5, 3, 20],
    ]);
    expect(hub.openSignatures()).toEqual([]);
    otherSink.cancelNow();
    await expect(otherEnded).resolves.toBe("cancelled");
    shutdown.abort();
    await expect(ended).resolves.toBe("shutdown");
  });

  it("closes a subscriber that stops reading once its queue is full, and no sooner", async () => {
    const book = new StatusBook(10_000);
    const hub = new SubscriptionHub();
    wire(book, hub);
    const limit = 50;
    const subscription = new Subscription([], limit);
    hub.add(subscription);
    const sink = new TestSink();
    sink.accepting = false;
    const ended = subscription.pipe(sink, new AbortController().signal);
    // The first write is taken and the sink asks to wait; 12 changes of 4 levels nearly fill the queue.
    for (let n = 0; n < 12; n++) book.advance(signature(n), L.CONFIRMATION_LEVEL_OPTIMISTIC, n);
    await tick();
    expect(subscription.queued).toBeLessThanOrEqual(limit);
    sink.resume();
    await tick();
    expect(sink.received.length).toBe(48);

    sink.accepting = false;
    for (let n = 12; n < 40; n++) book.advance(signature(n), L.CONFIRMATION_LEVEL_OPTIMISTIC, n);
    await expect(ended).rejects.toBeInstanceOf(SubscriberTooSlowError);
    expect(subscription.queued).toBe(0);
  });

  it("sends a result that arrives after its level with that level again", async () => {
    const subscription = new Subscription([signature(6)], 10);
    const sink = new TestSink();
    const ended = subscription.pipe(sink, new AbortController().signal);
    subscription.learn(signature(6), advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_EXECUTED, 50).status);
    subscription.learn(
      signature(6),
      advanceStatus(UNSEEN_STATUS, L.CONFIRMATION_LEVEL_EXECUTED, 60, resultOf(6)).status,
    );
    await tick();
    expect(sink.levels.slice(-2)).toEqual([
      [6, 5, 50],
      [6, 5, 50],
    ]);
    expect(sink.received.at(-2)!.result).toBeUndefined();
    expect(sink.received.at(-1)!.result).toEqual(resultOf(6));
    sink.cancelNow();
    await expect(ended).resolves.toBe("cancelled");
  });
});
