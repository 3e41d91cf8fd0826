import { describe, expect, it } from "vitest";
import { DEFAULT_TIMING, type Timing } from "./genesis.js";
import {
  epochOf,
  halfOfUserBlockSlot,
  recordingTickHeight,
  slotAt,
  slotOfUserBlockSlot,
  slotStartMs,
  tickDurationMs,
  userBlockSlotAt,
  userBlockSlotEndMs,
  userBlockSlotOf,
  userBlockSlotOfTickHeight,
  userBlockSlotStartMs,
} from "./time.js";

const timing: Timing = { ...DEFAULT_TIMING, startTimeMs: 1_000_000n };

describe("time", () => {
  it("maps wall-clock time to slots and UserBlockSlots", () => {
    expect(slotAt(timing, 999_000)).toBe(0);
    expect(slotAt(timing, 1_000_399)).toBe(0);
    expect(slotAt(timing, 1_000_400)).toBe(1);
    expect(slotStartMs(timing, 3)).toBe(1_001_200);
    expect(userBlockSlotAt(timing, 1_000_199)).toBe(0);
    expect(userBlockSlotAt(timing, 1_000_200)).toBe(1);
    expect(userBlockSlotAt(timing, 1_000_400)).toBe(2);
    expect(userBlockSlotStartMs(timing, 3)).toBe(1_000_600);
    expect(userBlockSlotEndMs(timing, 3)).toBe(1_000_800);
    expect(tickDurationMs(timing)).toBe(6.25);
  });

  it("numbers UserBlockSlots as 2·slot + half", () => {
    expect(userBlockSlotOf(5, 0)).toBe(10);
    expect(userBlockSlotOf(5, 1)).toBe(11);
    expect(slotOfUserBlockSlot(11)).toBe(5);
    expect(halfOfUserBlockSlot(11)).toBe(1);
    expect(halfOfUserBlockSlot(10)).toBe(0);
  });

  it("records UserBlockSlot u after its end plus the grace, inside slot ceil(u/2)", () => {
    // u = 9 ends at tick height 10·32 = 320; with 8 grace ticks it is recorded at 328, in slot 5.
    expect(recordingTickHeight(timing, 9)).toBe(328);
    expect(Math.floor(recordingTickHeight(timing, 9) / timing.ticksPerSlot)).toBe(5);
    expect(Math.floor(recordingTickHeight(timing, 10) / timing.ticksPerSlot)).toBe(5);
    expect(userBlockSlotOfTickHeight(timing, 328)).toBe(10);
  });

  it("counts epochs", () => {
    expect(epochOf(timing, 431_999)).toBe(0);
    expect(epochOf(timing, 432_000)).toBe(1);
  });
});
