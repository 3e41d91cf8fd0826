import type { DeliveredMessage } from "@simd23/bus";
import { describe, expect, it } from "vitest";
import { pendingItem } from "../testing/items.js";
import { IntakeBook, itemBlockBytes } from "./intake-book.js";

function delivery(): DeliveredMessage & { acked: number } {
  const message = {
    stream: "INTAKE" as const,
    subject: "intake.0",
    data: new Uint8Array(),
    headers: {},
    seq: 1,
    time: new Date(),
    deliveryCount: 1,
    acked: 0,
    ack() {
      message.acked += 1;
    },
    nak() {},
    term() {},
  };
  return message;
}

describe("IntakeBook", () => {
  it("hands out waiting items by exact fee rate, highest first, then by arrival", () => {
    const book = new IntakeBook(100, 60_000);
    // 2^53 + 1 and 2^53 micro-lamports per CU are the same double: only exact arithmetic orders them.
    const high = pendingItem({ price: 2n ** 53n + 1n, units: 1, arrivalSeq: 3 });
    const low = pendingItem({ price: 2n ** 53n, units: 1, arrivalSeq: 1 });
    const cheapEarly = pendingItem({ price: 5n, arrivalSeq: 2 });
    const cheapLate = pendingItem({ price: 5n, arrivalSeq: 4 });
    for (const item of [cheapLate, low, cheapEarly, high]) book.takeOver(item);
    expect([book.popBest(), book.popBest(), book.popBest(), book.popBest()]).toEqual([
      high,
      low,
      cheapEarly,
      cheapLate,
    ]);
    expect(book.popBest()).toBeUndefined();
  });

  it("counts storing and waiting items against its limit, and frees a place when a store fails", () => {
    const book = new IntakeBook(2, 60_000);
    const [a, b, c] = [pendingItem(), pendingItem(), pendingItem()];
    book.reserve(a);
    book.reserve(b);
    expect(book.full).toBe(true);
    expect(book.popBest()).toBeUndefined();
    book.stored(a);
    book.unreserve(b);
    expect(book.depth).toBe(1);
    expect(book.knows(b.key)).toBe(false);
    book.reserve(c);
    expect(book.full).toBe(true);
    expect(() => book.reserve(a)).toThrow(/already known/);
    expect(book.popBest()).toBe(a);
    // Proposed items are pending but no longer wait: they do not count against the limit.
    book.markProposed([a]);
    expect(book.depth).toBe(1);
    expect(book.size).toBe(2);
  });

  it("matches INTAKE deliveries: held while pending, settled once finished, unknown otherwise", () => {
    const book = new IntakeBook(10, 60_000);
    const item = pendingItem();
    book.takeOver(item);
    const first = delivery();
    const second = delivery();
    expect(book.attach(item.key, first)).toBe("held");
    // A redelivery after the ack wait replaces the handle.
    expect(book.attach(item.key, second)).toBe("held");
    expect(book.finish(item, 1_000)).toBe(second);
    expect(book.attach(item.key, delivery())).toBe("settled");
    expect(book.knows(item.key)).toBe(true);
    expect(book.attach(pendingItem().key, delivery())).toBe("unknown");
    book.prune(1_000 + 60_001);
    expect(book.knows(item.key)).toBe(false);
  });

  it("forgets an item handed on without remembering it as done, so it is taken again when it comes back", () => {
    const book = new IntakeBook(10, 60_000);
    const item = pendingItem();
    book.takeOver(item);
    const message = delivery();
    book.attach(item.key, message);
    const [waiting] = book.takeWaiting(() => true);
    expect(book.handOn(waiting!)).toBe(message);
    expect(book.knows(item.key)).toBe(false);
    expect(book.depth).toBe(0);
    // Handed back by a proposer that was evicted in turn: a new acceptance of the same item.
    const back = { ...item, message: undefined };
    book.reserve(back);
    book.stored(back);
    expect(book.depth).toBe(1);
    expect(book.popBest()).toBe(back);
  });

  it("puts items back after a block that was not recorded, and forgets a pool's items without finishing them", () => {
    const book = new IntakeBook(10, 60_000);
    const mine = pendingItem({ price: 2n, poolIndex: 0 });
    const adopted = pendingItem({ price: 1n, poolIndex: 3 });
    book.takeOver(mine);
    book.takeOver(adopted);
    const proposed = [book.popBest()!, book.popBest()!];
    book.markProposed(proposed);
    expect(book.depth).toBe(0);
    book.putBack(proposed);
    expect(book.depth).toBe(2);
    expect(book.countPool(3)).toBe(1);
    expect(book.forgetPool(3)).toEqual([adopted]);
    expect(book.knows(adopted.key)).toBe(false);
    expect(book.popBest()).toBe(mine);
    expect(book.popBest()).toBeUndefined();
  });
  it("sync mode: a fed item counts against the limit until recorded, counts again when fed again, and is never in the queue", () => {
    const book = new IntakeBook(2, 60_000);
    const [a, b, c] = [pendingItem(), pendingItem(), pendingItem()];
    book.reserve(a);
    book.feed(a);
    book.takeOverFed(b);
    expect([book.depth, book.full]).toEqual([2, true]);
    expect(book.popBest()).toBeUndefined();
    expect(book.fedWhere(() => true)).toEqual([a, b]);
    expect(book.markRecorded(a)).toBe(true);
    expect(book.markRecorded(a)).toBe(false);
    expect(book.depth).toBe(1);
    expect(book.fedWhere(() => true)).toEqual([b]);
    expect(book.markFed(a)).toBe(true);
    expect(book.depth).toBe(2);
    const message = delivery();
    expect(book.attach(b.key, message)).toBe("held");
    expect(book.finish(b, 1_000)).toBe(message);
    expect(book.depth).toBe(1);
    // A key settled by another replica's item: its delivery is acknowledged at once.
    book.rememberFinished(c.key, 1_000);
    expect(book.attach(c.key, delivery())).toBe("settled");
    expect(book.forgetPool(a.poolIndex)).toEqual([a]);
    expect(book.depth).toBe(0);
  });

  it("weighs what waits (storing, waiting, fed) in compute units and bytes against what the next UserBlocks carry", () => {
    const book = new IntakeBook(1_000, 60_000);
    const [a, b, c] = [pendingItem({ units: 400 }), pendingItem({ units: 300 }), pendingItem({ units: 200 })];
    const capacity = { computeUnits: 1_000, bytes: 1_000_000 };
    book.reserve(a);
    book.takeOver(b);
    book.takeOverFed(c);
    expect(book.backlog).toEqual({
      items: 3,
      computeUnits: 900,
      bytes: itemBlockBytes(a) + itemBlockBytes(b) + itemBlockBytes(c),
    });
    expect(book.overCapacity(capacity)).toBe(false);
    book.stored(a);
    expect(book.overCapacity({ computeUnits: 900, bytes: 1_000_000 })).toBe(true);
    expect(book.overCapacity({ computeUnits: 1_000, bytes: itemBlockBytes(a) * 3 })).toBe(true);
    // Proposed items no longer wait; put back after a missed block, they wait (and weigh) again.
    const proposed = [book.popBest()!, book.popBest()!];
    book.markProposed(proposed);
    expect(book.backlog.computeUnits).toBe(200);
    book.putBack(proposed);
    expect(book.backlog.computeUnits).toBe(900);
    book.finish(c, 1_000);
    expect(book.backlog).toEqual({
      items: 2,
      computeUnits: 700,
      bytes: itemBlockBytes(a) + itemBlockBytes(b),
    });
  });

  it("puts requeued items back at their place by fee rate: ahead of later arrivals of the same rate, behind higher rates", () => {
    const book = new IntakeBook(100, 60_000);
    const early = pendingItem({ price: 5n, arrivalSeq: 1 });
    const alsoEarly = pendingItem({ price: 2n, arrivalSeq: 2 });
    book.takeOver(early);
    book.takeOver(alsoEarly);
    const missed = [book.popBest()!, book.popBest()!];
    book.markProposed(missed);
    // While their block waits to be settled, new items arrive: one of a higher rate, two of the same.
    const higher = pendingItem({ price: 9n, arrivalSeq: 3 });
    const sameLater = pendingItem({ price: 5n, arrivalSeq: 4 });
    const lowLater = pendingItem({ price: 2n, arrivalSeq: 5 });
    for (const item of [sameLater, lowLater, higher]) book.takeOver(item);
    book.putBack(missed);
    const order = Array.from({ length: 5 }, () => book.popBest());
    expect(order).toEqual([higher, early, sameLater, alsoEarly, lowLater]);
  });
});
