import { encodeKey } from "@simd23/core";
import type { bankhashverifier, control, executor, leader, proposer, voteaggregator } from "@simd23/proto";

/** A halt: more than 1/3 of stake computed a wrong BankHash for `slot` (design.md §8). */
export interface HaltInfo {
  readonly slot: number;
  readonly reason: string;
  readonly haltedAtMs: number;
  readonly stake: {
    readonly matched: bigint;
    readonly mismatched: bigint;
    readonly missing: bigint;
    readonly total: bigint;
  };
  /** The validators whose commitments did not match (base58). */
  readonly mismatchedValidators: readonly string[];
}

/** The vote aggregator's view: the newest slot at each confirmation. */
export interface ClusterStatus {
  readonly slot: number;
  readonly optimisticSlot: number;
  readonly executedSlot: number;
  readonly finalizedSlot: number;
  readonly halted: boolean;
  readonly halt: HaltInfo | null;
  readonly totalStake: bigint;
}

export interface ProposerStatus {
  readonly identity: string;
  readonly userBlockSlot: number;
  readonly scheduled: boolean;
  /** The active proposer set, in schedule order (base58). */
  readonly activeProposers: readonly string[];
  readonly queueDepth: number;
  readonly halted: boolean;
}

export interface ExecutorStatus {
  readonly validator: string;
  readonly votedSlot: number;
  readonly executedSlot: number;
  readonly root: number;
  readonly executionLagSlots: number;
  readonly halted: boolean;
  readonly deadSlots: readonly number[];
  readonly missingUserBlocks: number;
}

export interface LeaderStatus {
  readonly identity: string;
  readonly slot: number;
  readonly leading: boolean;
  readonly hashesPerSecond: bigint;
  readonly tickDriftMs: number;
  readonly halted: boolean;
  readonly lastProducedSlot: number;
}

export interface VerifierStatus {
  readonly executedSlot: number;
  readonly verifiedSlot: number;
  readonly halted: boolean;
  readonly halt: HaltInfo | null;
}

/** An account's balance at the newest slot an executor executed. */
export interface Balance {
  readonly pubkey: string;
  readonly lamports: bigint;
  readonly exists: boolean;
  readonly slot: number;
  /** The executor that answered. */
  readonly address: string;
}

/** One endpoint's answer, or why it gave none; for roles with several replicas. */
export type EndpointResult<T> =
  | { readonly address: string; readonly ok: true; readonly value: T }
  | { readonly address: string; readonly ok: false; readonly error: Error };

export function haltInfoOf(halt: control.Halt | undefined): HaltInfo | null {
  if (halt === undefined) return null;
  return {
    slot: halt.slot,
    reason: halt.reason,
    haltedAtMs: Number(halt.haltedAtMs),
    stake: {
      matched: halt.tally?.matched ?? 0n,
      mismatched: halt.tally?.mismatched ?? 0n,
      missing: halt.tally?.missing ?? 0n,
      total: halt.tally?.total ?? 0n,
    },
    mismatchedValidators: halt.evidence.map((e) => encodeKey(e.validator)),
  };
}

export function clusterStatusOf(wire: voteaggregator.GetClusterStatusResponse): ClusterStatus {
  return {
    slot: wire.slot,
    optimisticSlot: wire.optimisticSlot,
    executedSlot: wire.executedSlot,
    finalizedSlot: wire.finalizedSlot,
    halted: wire.halted,
    halt: haltInfoOf(wire.halt),
    totalStake: wire.totalStake,
  };
}

const keyText = (key: Uint8Array): string => (key.length > 0 ? encodeKey(key) : "");

export function proposerStatusOf(wire: proposer.GetProposerStatusResponse): ProposerStatus {
  return {
    identity: keyText(wire.identity),
    userBlockSlot: wire.userBlockSlot,
    scheduled: wire.scheduled,
    activeProposers: wire.activeProposers.map(keyText),
    queueDepth: wire.queueDepth,
    halted: wire.halted,
  };
}

export function executorStatusOf(wire: executor.GetExecutorStatusResponse): ExecutorStatus {
  return {
    validator: keyText(wire.validator),
    votedSlot: wire.votedSlot,
    executedSlot: wire.executedSlot,
    root: wire.root,
    executionLagSlots: wire.executionLagSlots,
    halted: wire.halted,
    deadSlots: wire.deadSlots,
    missingUserBlocks: wire.missingUserBlocks,
  };
}

export function leaderStatusOf(wire: leader.GetLeaderStatusResponse): LeaderStatus {
  return {
    identity: keyText(wire.identity),
    slot: wire.slot,
    leading: wire.leading,
    hashesPerSecond: wire.hashesPerSecond,
    tickDriftMs: wire.tickDriftMs,
    halted: wire.halted,
    lastProducedSlot: wire.lastProducedSlot,
  };
}

export function verifierStatusOf(wire: bankhashverifier.GetVerifierStatusResponse): VerifierStatus {
  return {
    executedSlot: wire.executedSlot,
    verifiedSlot: wire.verifiedSlot,
    halted: wire.halted,
    halt: haltInfoOf(wire.halt),
  };
}
