import type { Timing } from "./genesis.js";

/**
 * Time arithmetic. A slot has ticksPerSlot ticks; a UserBlockSlot is half a
 * slot, u = 2·slot + half. Wall-clock functions take the time as an argument:
 * the core never reads a clock.
 */

export function ticksPerUserBlockSlot(timing: Timing): number {
  return timing.ticksPerSlot / 2;
}

export function tickDurationMs(timing: Timing): number {
  return timing.slotDurationMs / timing.ticksPerSlot;
}

export function hashesPerSlot(timing: Timing): number {
  return timing.ticksPerSlot * timing.hashesPerTick;
}

export function userBlockSlotOf(slot: number, half: 0 | 1): number {
  return 2 * slot + half;
}

export function slotOfUserBlockSlot(userBlockSlot: number): number {
  return Math.floor(userBlockSlot / 2);
}

export function halfOfUserBlockSlot(userBlockSlot: number): 0 | 1 {
  return (userBlockSlot % 2) as 0 | 1;
}

export function epochOf(timing: Timing, slot: number): number {
  return Math.floor(slot / timing.slotsPerEpoch);
}

export function firstSlotOfEpoch(timing: Timing, epoch: number): number {
  return epoch * timing.slotsPerEpoch;
}

function elapsedMs(timing: Timing, nowMs: number): number {
  return Math.max(0, nowMs - Number(timing.startTimeMs));
}

/** The slot in progress at nowMs (slot 0 before genesis start). */
export function slotAt(timing: Timing, nowMs: number): number {
  return Math.floor(elapsedMs(timing, nowMs) / timing.slotDurationMs);
}

export function slotStartMs(timing: Timing, slot: number): number {
  return Number(timing.startTimeMs) + slot * timing.slotDurationMs;
}

/** The UserBlockSlot in progress at nowMs. */
export function userBlockSlotAt(timing: Timing, nowMs: number): number {
  return Math.floor((2 * elapsedMs(timing, nowMs)) / timing.slotDurationMs);
}

export function userBlockSlotStartMs(timing: Timing, userBlockSlot: number): number {
  return Number(timing.startTimeMs) + (userBlockSlot * timing.slotDurationMs) / 2;
}

export function userBlockSlotEndMs(timing: Timing, userBlockSlot: number): number {
  return userBlockSlotStartMs(timing, userBlockSlot + 1);
}

/**
 * The tick height (ticks since slot 0 began) that must pass before the leader
 * records the UserBlocks of userBlockSlot: its end plus the grace ticks.
 */
export function recordingTickHeight(timing: Timing, userBlockSlot: number): number {
  return (userBlockSlot + 1) * ticksPerUserBlockSlot(timing) + timing.graceTicks;
}

/** The slot and half whose ticks contain the given tick height. */
export function userBlockSlotOfTickHeight(timing: Timing, tickHeight: number): number {
  return Math.floor(tickHeight / ticksPerUserBlockSlot(timing));
}
