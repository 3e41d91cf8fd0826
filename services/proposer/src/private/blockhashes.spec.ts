import { describe, expect, it } from "vitest";
import { BlockhashBook, BlockhashWaits } from "./blockhashes.js";

describe("BlockhashBook", () => {
  const chain = (tip: number, from: number) =>
    new Map(Array.from({ length: tip - from + 1 }, (_, i) => [`h${from + i}`, from + i]));

  it("finds every blockhash of an item on the tip's chain and gives the oldest one's slot", () => {
    const book = new BlockhashBook(3);
    book.setTip(10, chain(10, 8));
    expect(book.judge(["h9", "h8", "h10"])).toEqual({ status: "valid", slot: 8 });
  });

  it("tells a blockhash that aged out of the window (expired) from one it never saw (unknown)", () => {
    const book = new BlockhashBook(3);
    for (let slot = 1; slot <= 10; slot++) book.saw(slot, `h${slot}`);
    book.setTip(10, chain(10, 8));
    expect(book.judge(["h7"])).toEqual({ status: "expired", slot: 7 });
    expect(book.judge(["h11"])).toEqual({ status: "unknown" });
    // An expired blockhash decides a bundle, whatever else it names.
    expect(book.judge(["h11", "h9", "h5"])).toEqual({ status: "expired", slot: 5 });
    expect(book.judge(["h9", "h11"])).toEqual({ status: "unknown" });
  });

  it("treats a recent blockhash of another fork as unknown on this chain, and learns one once the view reaches it", () => {
    const book = new BlockhashBook(3);
    book.saw(9, "fork9");
    book.setTip(10, chain(10, 8));
    expect(book.judge(["fork9"])).toEqual({ status: "unknown" });
    book.saw(11, "h11");
    book.setTip(11, chain(11, 9));
    expect(book.judge(["h11"])).toEqual({ status: "valid", slot: 11 });
  });

  it("forgets what it saw twice the window below the tip", () => {
    const book = new BlockhashBook(3);
    book.saw(1, "h1");
    book.setTip(7, chain(7, 5));
    expect(book.judge(["h1"])).toEqual({ status: "expired", slot: 1 });
    book.setTip(8, chain(8, 6));
    expect(book.judge(["h1"])).toEqual({ status: "unknown" });
  });
});

describe("BlockhashWaits", () => {
  it("wakes every waiter when the tip moves, or each at its timeout, and counts them against its limit", async () => {
    const waits = new BlockhashWaits(2);
    const woken: string[] = [];
    const a = waits.next(10_000).then(() => woken.push("a"));
    const b = waits.next(10_000).then(() => woken.push("b"));
    expect([waits.size, waits.full]).toEqual([2, true]);
    waits.wakeAll();
    await Promise.all([a, b]);
    expect(woken.sort()).toEqual(["a", "b"]);
    expect(waits.size).toBe(0);
    const started = Date.now();
    await waits.next(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    expect(waits.size).toBe(0);
  });
});
