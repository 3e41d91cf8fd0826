import { createTestnetGenesis, type Timing } from "@simd23/core";
import { describe, expect, it } from "vitest";
import {
  decideParent,
  type LeaderLookup,
  nextLeaderSlot,
  type ParentSituation,
  recordingSlotOf,
  scheduledTickHeight,
  tickDueMs,
} from "./timing.js";

const A = new Uint8Array(32).fill(1);
const B = new Uint8Array(32).fill(2);

/** Windows of 2 slots led, window by window, by the given leaders. */
function schedule(...windows: Uint8Array[]): LeaderLookup & { readonly asked: number[] } {
  const asked: number[] = [];
  return {
    asked,
    leaderOf(slot) {
      if (slot === 0) throw new RangeError("slot 0 is genesis");
      asked.push(slot);
      return windows[Math.floor(slot / 2) % windows.length]!;
    },
  };
}

const timing = (overrides: Partial<Timing> = {}): Timing =>
  createTestnetGenesis({
    clusterName: "timing",
    clusterSeed: new Uint8Array(32),
    startTimeMs: 1_000_000n,
    validators: 1,
    proposerPool: 1,
    timing: { slotDurationMs: 400, ticksPerSlot: 64, ...overrides },
  }).timing;

describe("nextLeaderSlot", () => {
  it("finds the next slot of one's own windows, looking up each window once", () => {
    const leaders = schedule(A, B, B, A);
    expect(nextLeaderSlot(leaders, A, 0, { slotsPerLeaderWindow: 2 }, 100)).toBe(1);
    expect(nextLeaderSlot(leaders, A, 1, { slotsPerLeaderWindow: 2 }, 100)).toBe(1);
    expect(nextLeaderSlot(leaders, B, 0, { slotsPerLeaderWindow: 2 }, 100)).toBe(2);
    // Within a window: the same window's next slot.
    expect(nextLeaderSlot(leaders, B, 3, { slotsPerLeaderWindow: 2 }, 100)).toBe(3);
    leaders.asked.length = 0;
    expect(nextLeaderSlot(leaders, A, 2, { slotsPerLeaderWindow: 2 }, 100)).toBe(6);
    expect(leaders.asked).toEqual([2, 4, 6]);
    expect(nextLeaderSlot(leaders, A, 7, { slotsPerLeaderWindow: 2 }, 100)).toBe(7);
  });

  it("gives up past the horizon", () => {
    const leaders = schedule(B);
    expect(nextLeaderSlot(leaders, A, 5, { slotsPerLeaderWindow: 2 }, 20)).toBeUndefined();
    expect(Math.max(...leaders.asked)).toBeLessThan(25);
  });
});

describe("tick schedule", () => {
  it("puts tick height h at h tick durations after genesis began, without rounding per tick", () => {
    const t = timing();
    // Slot 1 starts at tick height 64, 400 ms after genesis; its first tick is due 6.25 ms later.
    expect(tickDueMs(t, 64)).toBe(1_000_400);
    expect(tickDueMs(t, 65)).toBe(1_000_406.25);
    expect(tickDueMs(t, 64 * 1_000)).toBe(1_000_000 + 400_000);
    const odd = timing({ slotDurationMs: 200, ticksPerSlot: 6, graceTicks: 1 });
    expect(tickDueMs(odd, 6 * 7)).toBe(1_000_000 + 7 * 200);
  });

  it("reads the tick height a PoH on schedule has, never below genesis's", () => {
    const t = timing();
    expect(scheduledTickHeight(t, 0)).toBe(64);
    expect(scheduledTickHeight(t, 1_000_400)).toBe(64);
    expect(scheduledTickHeight(t, 1_000_406.2)).toBe(64);
    expect(scheduledTickHeight(t, 1_000_406.25)).toBe(65);
    for (const h of [64, 100, 12_345]) expect(scheduledTickHeight(t, tickDueMs(t, h))).toBe(h);
  });

  it("records UserBlockSlot u in slot ⌈u/2⌉ (slot s records 2s − 1 and 2s); u = 0 never", () => {
    expect([1, 2, 3, 4, 9, 10].map(recordingSlotOf)).toEqual([1, 1, 2, 2, 5, 5]);
    expect(recordingSlotOf(0)).toBeUndefined();
  });
});

describe("decideParent", () => {
  const base: ParentSituation = {
    slot: 10,
    newestKnown: 9,
    previousIsOwn: false,
    previousActive: true,
    previousDead: false,
    nowMs: 1_000,
    waitUntilMs: 1_050,
  };

  it("builds on the previous slot when it is known, without waiting", () => {
    expect(decideParent(base)).toEqual({ action: "build", parentSlot: 9, reason: "previous-slot" });
  });

  it("waits for a previous slot that is still arriving, then builds on the newest it has", () => {
    const arriving = { ...base, newestKnown: 8 };
    expect(decideParent(arriving)).toEqual({ action: "wait", untilMs: 1_050 });
    expect(decideParent({ ...arriving, nowMs: 1_050 })).toEqual({
      action: "build",
      parentSlot: 8,
      reason: "previous-timed-out",
    });
  });

  it("does not wait for a slot nobody is producing, a dead one, or its own unproduced one", () => {
    const behind = { ...base, newestKnown: 7 };
    expect(decideParent({ ...behind, previousActive: false })).toMatchObject({
      action: "build",
      parentSlot: 7,
      reason: "previous-silent",
    });
    expect(decideParent({ ...behind, previousDead: true })).toMatchObject({ reason: "previous-dead" });
    expect(decideParent({ ...behind, previousIsOwn: true })).toMatchObject({ reason: "previous-own" });
  });
});
