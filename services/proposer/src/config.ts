import { envVar, type RoleValues } from "@simd23/service-kit";

/** The proposer's own environment variables (read with the kit's common ones by loadConfig). */
export const PROPOSER_VARIABLES = {
  /** host:port other proposers and executors reach this replica's gRPC at; default 127.0.0.1:<gRPC port>. */
  SIMD23_ADVERTISE_ADDRESS: envVar
    .string({ pattern: /^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, expected: "host:port" })
    .optional(),
  /** Items (transactions or bundles) that may wait for a UserBlock before intake refuses with QUEUE_FULL. */
  SIMD23_PROPOSER_QUEUE_LIMIT: envVar.integer({ min: 1, max: 1_000_000 }).default(20_000),
  /**
   * UserBlocks' worth of compute units and bytes that may wait (items put back after a missed
   * block included) before intake refuses with QUEUE_FULL: backpressure, not a growing queue.
   */
  SIMD23_PROPOSER_BACKLOG_USER_BLOCKS: envVar.integer({ min: 1, max: 1_000 }).default(4),
  /**
   * How long a submission whose blockhash this replica's ledger view does not know yet may wait
   * for it (the view catching up with the wall clock) before it is refused as not found.
   */
  SIMD23_PROPOSER_BLOCKHASH_WAIT_MS: envVar.integer({ min: 0, max: 60_000 }).default(3_000),
  /** Submissions that may wait for their blockhash at once; more are refused with QUEUE_FULL. */
  SIMD23_PROPOSER_BLOCKHASH_WAIT_LIMIT: envVar.integer({ min: 0, max: 1_000_000 }).default(5_000),
  /**
   * Verify the PoH of every slot the ledger follower replays. Off by default: a proposer does not
   * vote, and trusts the PoH of slots signed by their scheduled leader (protocol.md §19.7).
   */
  SIMD23_PROPOSER_VERIFY_LEDGER_POH: envVar.boolean().default(false),
  /** The pool-key lease in the store; renewed every third of it. A killed replica's key is free after this. */
  SIMD23_PROPOSER_LEASE_MS: envVar.integer({ min: 500, max: 600_000 }).default(10_000),
  /**
   * The INTAKE consumer's ack wait: an unacknowledged delivery is delivered again after it, which is
   * how a crashed replica's intake reaches the replica that takes its key.
   */
  SIMD23_PROPOSER_INTAKE_ACK_WAIT_MS: envVar.integer({ min: 200, max: 600_000 }).default(5_000),
  /** How long a forward to another proposer may take before this replica keeps the item itself. */
  SIMD23_PROPOSER_FORWARD_TIMEOUT_MS: envVar.integer({ min: 10, max: 60_000 }).default(1_000),
  /** How often a replica looks for free pool keys with pending intake to adopt. */
  SIMD23_PROPOSER_ADOPTION_SCAN_MS: envVar.integer({ min: 100, max: 600_000 }).default(2_000),
  /**
   * Ticks before the end of a UserBlockSlot at which its block is built (the recent build time is
   * added), so it reaches the leader by the end despite timer and network delays; what arrives in
   * those last ticks goes into the next block.
   */
  SIMD23_PROPOSER_BUILD_LEAD_TICKS: envVar.integer({ min: 0, max: 1_000 }).default(2),
  /**
   * Sync mode: slots the ledger must grow past the slot whose TransactionEntry holds an item before
   * the item counts as done when no other leader has built on that slot yet; default two leader
   * windows. (Async mode settles UserBlocks by optimistic confirmation.)
   */
  SIMD23_PROPOSER_SETTLE_DEPTH_SLOTS: envVar.integer({ min: 0, max: 1_024 }).optional(),
  /** Bytes of recently built UserBlocks kept to answer GetUserBlock (repair). */
  SIMD23_PROPOSER_BLOCK_CACHE_BYTES: envVar.integer({ min: 0 }).default(128 * 1024 * 1024),
  /** Fault (testnets only): build and sign UserBlocks but never publish them. */
  SIMD23_FAULT_WITHHOLD_BLOCKS: envVar.boolean().default(false),
  /** Fault (testnets only): publish two different signed UserBlocks for every scheduled UserBlockSlot. */
  SIMD23_FAULT_EQUIVOCATE: envVar.boolean().default(false),
};

export type ProposerVariables = RoleValues<typeof PROPOSER_VARIABLES>;

/** What the proposer's behaviour depends on, apart from its connections. */
export interface ProposerSettings {
  readonly queueLimit: number;
  /** UserBlocks' worth of compute units and bytes that may wait before intake refuses. */
  readonly backlogUserBlocks: number;
  /** How long a submission may wait for its blockhash to appear in the ledger view. */
  readonly blockhashWaitMs: number;
  /** Submissions that may wait for their blockhash at once. */
  readonly blockhashWaitLimit: number;
  /** Verify the ledger's PoH (false: trust slots signed by their scheduled leader). */
  readonly verifyLedgerPoh: boolean;
  readonly leaseMs: number;
  readonly intakeAckWaitMs: number;
  readonly forwardTimeoutMs: number;
  readonly adoptionScanMs: number;
  /** Undefined: two leader windows of the genesis. */
  readonly settleDepthSlots: number | undefined;
  readonly buildLeadTicks: number;
  readonly blockCacheBytes: number;
  /** The whole graceful shutdown (SIMD23_SHUTDOWN_DEADLINE_MS): leaving the schedule must fit in it. */
  readonly shutdownDeadlineMs: number;
  readonly faults: { readonly withholdBlocks: boolean; readonly equivocate: boolean };
}

export function proposerSettings(values: ProposerVariables, shutdownDeadlineMs: number): ProposerSettings {
  return {
    queueLimit: values.SIMD23_PROPOSER_QUEUE_LIMIT,
    backlogUserBlocks: values.SIMD23_PROPOSER_BACKLOG_USER_BLOCKS,
    blockhashWaitMs: values.SIMD23_PROPOSER_BLOCKHASH_WAIT_MS,
    blockhashWaitLimit: values.SIMD23_PROPOSER_BLOCKHASH_WAIT_LIMIT,
    verifyLedgerPoh: values.SIMD23_PROPOSER_VERIFY_LEDGER_POH,
    leaseMs: values.SIMD23_PROPOSER_LEASE_MS,
    intakeAckWaitMs: values.SIMD23_PROPOSER_INTAKE_ACK_WAIT_MS,
    forwardTimeoutMs: values.SIMD23_PROPOSER_FORWARD_TIMEOUT_MS,
    adoptionScanMs: values.SIMD23_PROPOSER_ADOPTION_SCAN_MS,
    settleDepthSlots: values.SIMD23_PROPOSER_SETTLE_DEPTH_SLOTS,
    buildLeadTicks: values.SIMD23_PROPOSER_BUILD_LEAD_TICKS,
    blockCacheBytes: values.SIMD23_PROPOSER_BLOCK_CACHE_BYTES,
    shutdownDeadlineMs,
    faults: {
      withholdBlocks: values.SIMD23_FAULT_WITHHOLD_BLOCKS,
      equivocate: values.SIMD23_FAULT_EQUIVOCATE,
    },
  };
}
