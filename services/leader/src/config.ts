import { envVar, type RoleValues } from "@simd23/service-kit";
import type { LeaderSettings } from "./leader.js";

/** The leader's own environment variables (on top of the service kit's). */
export const LEADER_VARIABLES = {
  /** Milliseconds the leader waits for the previous slot's end before skipping it; default slotDurationMs / 8. */
  SIMD23_LEADER_PARENT_WAIT_MS: envVar.integer({ min: 0, max: 60_000 }).optional(),
  /** Produced slots kept in memory for GetSlot (ledger repair). */
  SIMD23_LEADER_RETAINED_SLOTS: envVar.integer({ min: 1, max: 100_000 }).default(256),
};

export function settingsFromConfig(values: RoleValues<typeof LEADER_VARIABLES>): Partial<LeaderSettings> {
  return {
    ...(values.SIMD23_LEADER_PARENT_WAIT_MS === undefined
      ? {}
      : { parentWaitMs: values.SIMD23_LEADER_PARENT_WAIT_MS }),
    retainedSlots: values.SIMD23_LEADER_RETAINED_SLOTS,
  };
}
