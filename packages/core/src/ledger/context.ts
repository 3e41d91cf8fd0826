import { type Genesis, genesisHash } from "../genesis.js";
import { LeaderScheduleCache } from "../schedule/leader.js";
import { ProposerSchedule } from "../schedule/proposer.js";

/** What building and checking ledger slots needs from genesis, computed once per process. */
export interface LedgerContext {
  readonly genesis: Genesis;
  readonly genesisHash: Uint8Array;
  readonly leaders: LeaderScheduleCache;
}

export function createLedgerContext(genesis: Genesis): LedgerContext {
  const hash = genesisHash(genesis);
  return { genesis, genesisHash: hash, leaders: new LeaderScheduleCache(genesis, hash) };
}

/**
 * The state of a chain after one of its slots: what a child slot is built on
 * and checked against. Each fork has its own; all of it is immutable.
 */
export interface ChainState {
  readonly slot: number;
  /** The slot's last PoH hash: its blockhash and the start of the child's PoH. */
  readonly lastHash: Uint8Array;
  /** Ticks since slot 0 began, through the end of the slot: (slot + 1) · ticksPerSlot. */
  readonly tickHeight: number;
  readonly schedule: ProposerSchedule;
}

/** Slot 0: genesis. Its last hash is the genesis hash and its ticks are all done. */
export function genesisChainState(context: LedgerContext): ChainState {
  return {
    slot: 0,
    lastHash: context.genesisHash,
    tickHeight: context.genesis.timing.ticksPerSlot,
    schedule: ProposerSchedule.genesis(context.genesis),
  };
}
