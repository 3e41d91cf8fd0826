import type { Counter, Gauge, Histogram, ServiceMetrics } from "@simd23/service-kit";
import type { LevelName } from "./statuses.js";

/** The vote_aggregator rows of docs/metrics.md (the kit adds the rows every role has). */
export interface AggregatorMetrics {
  readonly votes: Counter;
  readonly optimisticSlot: Gauge;
  readonly executedSlot: Gauge;
  readonly finalizedSlot: Gauge;
  readonly optimisticConfirmationSeconds: Histogram;
  readonly transactions: Counter<"level">;
  readonly confirmationLatencySeconds: Histogram<"level">;
  readonly subscribers: Gauge;
  /** `simd23_vote_aggregator_slot`: the newest slot seen in the ledger. */
  readonly slot: Gauge;
}

// From a few slots of a fast test cluster to a minute of a loaded one.
const LATENCY_BUCKETS = [0.05, 0.1, 0.2, 0.4, 0.8, 1.2, 1.6, 2.4, 3.2, 5, 7.5, 10, 15, 20, 30, 60];

// Drops are the proposers' to count (simd23_proposer_transactions_dropped_total): the aggregator
// does not see them happen, so it exports no `dropped` series rather than a constant 0.
const COUNTED_LEVELS: readonly LevelName[] = [
  "received",
  "proposed",
  "recorded",
  "optimistic",
  "executed",
  "finalized",
];

export function createAggregatorMetrics(metrics: ServiceMetrics): AggregatorMetrics {
  const prefix = metrics.prefix;
  const transactions = metrics.counter({
    name: `${prefix}_transactions_total`,
    help: "Transactions that reached each confirmation level, as this replica saw them (rate = tps by level).",
    labelNames: ["level"],
  });
  // Every level is exported from the start, so a rate over a level nobody reached yet reads 0.
  for (const level of COUNTED_LEVELS) transactions.inc({ level }, 0);
  return {
    votes: metrics.counter({ name: `${prefix}_votes_total`, help: "Valid votes processed from VOTES." }),
    optimisticSlot: metrics.gauge({
      name: `${prefix}_optimistic_slot`,
      help: "The newest optimistically confirmed slot.",
    }),
    executedSlot: metrics.gauge({
      name: `${prefix}_executed_slot`,
      help: "The newest slot with an EXECUTED verdict.",
    }),
    finalizedSlot: metrics.gauge({ name: `${prefix}_finalized_slot`, help: "The newest finalized slot." }),
    optimisticConfirmationSeconds: metrics.histogram({
      name: `${prefix}_optimistic_confirmation_seconds`,
      help: "From a slot's scheduled end to its optimistic confirmation.",
      buckets: LATENCY_BUCKETS,
    }),
    transactions,
    confirmationLatencySeconds: metrics.histogram({
      name: `${prefix}_confirmation_latency_seconds`,
      help: "From a transaction's received time (status index) to each level.",
      labelNames: ["level"],
      buckets: LATENCY_BUCKETS,
    }),
    subscribers: metrics.gauge({ name: `${prefix}_subscribers`, help: "Open SubscribeSignatures streams." }),
    slot: metrics.slot,
  };
}
