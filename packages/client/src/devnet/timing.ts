import type { Timing } from "@simd23/core";

/**
 * The devnet's genesis timing: Solana's 400 ms slot (two 200 ms UserBlockSlots, as the SIMD
 * has them), with fewer ticks and hashes than mainnet so that ten role processes sharing a
 * two-core laptop keep up (every follower verifies the leader's PoH and every tick is a LEDGER
 * message each role opens): see docs/protocol.md §22 for the measurements.
 */
export const DEVNET_TIMING = {
  slotDurationMs: 400,
  ticksPerSlot: 16,
  hashesPerTick: 12_500,
  proposerHashesPerTick: 1_250,
  graceTicks: 4,
  proposerEvictionUserBlockSlots: 16,
  slotsPerEpoch: 8_192,
} as const satisfies Partial<Omit<Timing, "startTimeMs">>;
