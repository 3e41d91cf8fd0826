import { tx } from "@simd23/proto";
import type { Counter, Gauge, Histogram, ServiceMetrics } from "@simd23/service-kit";

/** The proposer rows of docs/metrics.md, exactly. */
export interface ProposerMetrics {
  readonly accepted: Counter<"kind">;
  readonly refused: Counter<"reason">;
  readonly forwarded: Counter;
  readonly requeued: Counter;
  readonly dropped: Counter<"reason">;
  readonly queueDepth: Gauge;
  readonly blocksBuilt: Counter<"proposer">;
  readonly blocksRecorded: Counter<"proposer">;
  readonly blocksMissed: Counter<"proposer">;
  readonly blockTransactions: Histogram;
  readonly blockBytes: Histogram;
  readonly scheduled: Gauge;
  readonly activeProposers: Gauge;
  readonly intakeSeconds: Histogram;
  /** `simd23_proposer_slot`, the kit's. */
  readonly slot: Gauge;
  /** Starts the `{proposer}` series of a pool key this replica proposes as, at 0. */
  startProposerSeries(name: string): void;
}

/** A RejectReason as the `reason` label: its name without the prefix, lower case. */
export function rejectReasonLabel(reason: tx.RejectReason): string {
  return tx.rejectReasonToJSON(reason).replace("REJECT_REASON_", "").toLowerCase();
}

/** Every RejectReason intake can give. */
const REJECT_REASONS = Object.values(tx.RejectReason).filter(
  (reason): reason is tx.RejectReason =>
    typeof reason === "number" &&
    reason !== tx.RejectReason.REJECT_REASON_UNSPECIFIED &&
    reason !== tx.RejectReason.UNRECOGNIZED,
);

/** Why an accepted item is given up (the `reason` label of transactions_dropped_total). */
export const DROP_REASONS = ["blockhash_expired"] as const;

/** The proposer's metrics, each labelled counter's known series at 0 from the start (dashboards rate them). */
export function createProposerMetrics(metrics: ServiceMetrics): ProposerMetrics {
  const created = {
    accepted: metrics.counter({
      name: "simd23_proposer_transactions_accepted_total",
      help: "Transactions and bundles accepted at intake (stored in INTAKE and acknowledged to the client).",
      labelNames: ["kind"],
    }),
    refused: metrics.counter({
      name: "simd23_proposer_transactions_refused_total",
      help: "Submissions refused at intake, by RejectReason.",
      labelNames: ["reason"],
    }),
    forwarded: metrics.counter({
      name: "simd23_proposer_transactions_forwarded_total",
      help: "Submissions forwarded to the proposer their fee payer is routed to (or handed on at shutdown).",
    }),
    requeued: metrics.counter({
      name: "simd23_proposer_transactions_requeued_total",
      help: "Items taken from a UserBlock that was not recorded and proposed again.",
    }),
    dropped: metrics.counter({
      name: "simd23_proposer_transactions_dropped_total",
      help: "Accepted items given up, by reason (e.g. the blockhash expired before they could be recorded).",
      labelNames: ["reason"],
    }),
    queueDepth: metrics.gauge({
      name: "simd23_proposer_queue_depth_transactions",
      help: "Items waiting for a UserBlock.",
    }),
    blocksBuilt: metrics.counter({
      name: "simd23_proposer_user_blocks_built_total",
      help: "UserBlocks built, signed and published.",
      labelNames: ["proposer"],
    }),
    blocksRecorded: metrics.counter({
      name: "simd23_proposer_user_blocks_recorded_total",
      help: "Published UserBlocks the ledger recorded.",
      labelNames: ["proposer"],
    }),
    blocksMissed: metrics.counter({
      name: "simd23_proposer_user_blocks_missed_total",
      help: "Published UserBlocks the ledger did not record.",
      labelNames: ["proposer"],
    }),
    blockTransactions: metrics.histogram({
      name: "simd23_proposer_user_block_transactions",
      help: "Transactions per UserBlock.",
      buckets: [0, 1, 10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000],
    }),
    blockBytes: metrics.histogram({
      name: "simd23_proposer_user_block_bytes",
      help: "Encoded UserBlock size.",
      buckets: [256, 1_024, 10_000, 50_000, 100_000, 250_000, 500_000, 1_000_000],
    }),
    scheduled: metrics.gauge({
      name: "simd23_proposer_scheduled",
      help: "1 while this replica is in the active proposer set.",
    }),
    activeProposers: metrics.gauge({
      name: "simd23_proposer_active_proposers",
      help: "Size of the active proposer set.",
    }),
    intakeSeconds: metrics.histogram({
      name: "simd23_proposer_intake_seconds",
      help: "Time to handle one SubmitTransaction or SubmitBundle.",
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    }),
    slot: metrics.slot,
  };
  for (const kind of ["transaction", "bundle"]) created.accepted.inc({ kind }, 0);
  for (const reason of REJECT_REASONS) created.refused.inc({ reason: rejectReasonLabel(reason) }, 0);
  for (const reason of DROP_REASONS) created.dropped.inc({ reason }, 0);
  return {
    ...created,
    startProposerSeries(name) {
      for (const counter of [created.blocksBuilt, created.blocksRecorded, created.blocksMissed])
        counter.inc({ proposer: name }, 0);
    },
  };
}
