import type { Counter, Gauge, Histogram, ServiceMetrics } from "@simd23/service-kit";

/** `type` of simd23_leader_entries_total: the ledger entry payloads. */
export const ENTRY_TYPES = ["tick", "votes", "user_block", "membership", "transactions"] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

/** `reason` of simd23_leader_user_blocks_refused_total (docs/metrics.md). */
export const REFUSAL_REASONS = [
  "late",
  "early",
  "malformed",
  "unscheduled",
  "bad_signature",
  "bad_poh",
  "over_limit",
  "wrong_slot",
  "equivocation",
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

/** The leader rows of docs/metrics.md (the common rows come from the service kit). */
export interface LeaderMetrics {
  readonly pohHashes: Counter;
  readonly tickDrift: Histogram;
  readonly entries: Counter<"type">;
  readonly userBlocksRecorded: Counter;
  readonly userBlocksRefused: Counter<"reason">;
  readonly equivocations: Counter;
  readonly votesRecorded: Counter;
  readonly slotsProduced: Counter;
  readonly slotsSkipped: Counter;
  readonly leading: Gauge;
  readonly slot: Gauge;
}

export function createLeaderMetrics(metrics: ServiceMetrics): LeaderMetrics {
  const entries = metrics.counter({
    name: "simd23_leader_entries_total",
    help: "Ledger entries published, by payload.",
    labelNames: ["type"],
  });
  const userBlocksRefused = metrics.counter({
    name: "simd23_leader_user_blocks_refused_total",
    help: "UserBlocks refused, by reason.",
    labelNames: ["reason"],
  });
  // Every series exists from the start, so a rate over it is defined before the first event.
  for (const type of ENTRY_TYPES) entries.inc({ type }, 0);
  for (const reason of REFUSAL_REASONS) userBlocksRefused.inc({ reason }, 0);
  return {
    pohHashes: metrics.counter({
      name: "simd23_leader_poh_hashes_total",
      help: "PoH hashes computed (rate = hashes per second).",
    }),
    tickDrift: metrics.histogram({
      name: "simd23_leader_tick_drift_seconds",
      help: "How late each tick was against its wall-clock schedule.",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
    }),
    entries,
    userBlocksRecorded: metrics.counter({
      name: "simd23_leader_user_blocks_recorded_total",
      help: "UserBlockEntries recorded.",
    }),
    userBlocksRefused,
    equivocations: metrics.counter({
      name: "simd23_leader_equivocations_total",
      help: "Equivocation evidence recorded.",
    }),
    votesRecorded: metrics.counter({
      name: "simd23_leader_votes_recorded_total",
      help: "Votes recorded in vote entries.",
    }),
    slotsProduced: metrics.counter({
      name: "simd23_leader_slots_produced_total",
      help: "Slots this replica produced.",
    }),
    slotsSkipped: metrics.counter({
      name: "simd23_leader_slots_skipped_total",
      help: "Earlier leaders' slots this replica ticked through.",
    }),
    leading: metrics.gauge({
      name: "simd23_leader_leading",
      help: "1 while this replica is producing a slot.",
    }),
    slot: metrics.slot,
  };
}
