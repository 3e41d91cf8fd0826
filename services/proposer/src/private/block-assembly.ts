import {
  type Genesis,
  type Keypair,
  tickDurationMs,
  UserBlockBuilder,
  userBlockSlotStartMs,
  type WellFormedUserBlock,
} from "@simd23/core";
import { tx } from "@simd23/proto";
import type { IntakeBook, PendingItem } from "./intake-book.js";

/** Bytes of a protobuf varint holding `value`. */
export function varintBytes(value: number): number {
  let bytes = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    bytes += 1;
  }
  return bytes;
}

/** The encoded TransactionItem of a transaction or a bundle. */
export function encodeItem(item: tx.TransactionItem): Uint8Array {
  return tx.TransactionItem.encode(item).finish();
}

/**
 * The PoH position of an item in the UserBlock of `userBlockSlot`: the hashes
 * the proposer's clock (proposerHashesPerTick per tick) ran from the start of
 * the UserBlockSlot until it arrived, at least 1 (an item that was waiting
 * before the UserBlockSlot began opens the block) and at most the block's hash
 * limit (one that arrived while the block was being built closes it).
 */
export function pohPositionOf(
  genesis: Genesis,
  userBlockSlot: number,
  arrivalMs: number,
  hashLimit: number,
): number {
  const { timing } = genesis;
  const elapsedMs = arrivalMs - userBlockSlotStartMs(timing, userBlockSlot);
  const hashes = Math.floor((elapsedMs * timing.proposerHashesPerTick) / tickDurationMs(timing));
  return Math.min(hashLimit, Math.max(1, hashes));
}

export interface AssemblyOptions {
  readonly genesis: Genesis;
  readonly keypair: Keypair;
  readonly userBlockSlot: number;
  readonly activeProposerCount: number;
  /** Items that expire before the block could be recorded are given up instead of proposed. */
  readonly isExpired: (item: PendingItem) => boolean;
  /**
   * How many items in a row may fail to fit before selection stops: the queue
   * is in fee order, so past a few misfits the block is as full as it gets.
   */
  readonly misfitsBeforeStop?: number;
}

export interface AssembledUserBlock {
  readonly block: WellFormedUserBlock;
  /** The items in the block, in block order. */
  readonly included: readonly PendingItem[];
  /** Items taken from the queue because their blockhash expires first; the caller drops them. */
  readonly expired: readonly PendingItem[];
}

/**
 * Builds this proposer's UserBlock for one UserBlockSlot from the waiting
 * items: the highest fee rates first (exact order of {@link IntakeBook}) while
 * they fit the block's compute-unit and byte limits, then laid out in arrival
 * order, each entry after the hashes its arrival time gives; they are marked
 * proposed. What does not fit goes back to the queue for the next UserBlockSlot.
 */
export function assembleUserBlock(book: IntakeBook, options: AssemblyOptions): AssembledUserBlock {
  const { genesis, userBlockSlot } = options;
  const builder = new UserBlockBuilder({
    genesis,
    keypair: options.keypair,
    userBlockSlot,
    activeProposerCount: options.activeProposerCount,
  });
  const hashLimit = builder.hashLimit;
  // An entry costs at most: its key and length, numHashes, the 32-byte hash with its key.
  const entryOverhead =
    1 + varintBytes(genesis.limits.maxUserBlockBytes) + 1 + varintBytes(hashLimit) + 2 + 32;
  const misfitsBeforeStop = options.misfitsBeforeStop ?? 64;

  let units = builder.remainingComputeUnits;
  let bytes = builder.remainingBytes;
  const openedPositions = new Set<number>();
  const selected: { item: PendingItem; position: number }[] = [];
  const expired: PendingItem[] = [];
  const misfits: PendingItem[] = [];
  let misfitsInARow = 0;
  while (misfitsInARow < misfitsBeforeStop && units > 0n && bytes > 0) {
    const item = book.popBest();
    if (item === undefined) break;
    if (options.isExpired(item)) {
      expired.push(item);
      continue;
    }
    const position = pohPositionOf(genesis, userBlockSlot, item.arrivalMs, hashLimit);
    const cost =
      1 +
      varintBytes(item.body.length) +
      item.body.length +
      (openedPositions.has(position) ? 0 : entryOverhead);
    if (BigInt(item.computeUnits) > units || cost > bytes) {
      misfits.push(item);
      misfitsInARow += 1;
      continue;
    }
    misfitsInARow = 0;
    units -= BigInt(item.computeUnits);
    bytes -= cost;
    openedPositions.add(position);
    selected.push({ item, position });
  }
  book.putBack(misfits);

  selected.sort((a, b) => a.position - b.position || a.item.arrivalSeq - b.item.arrivalSeq);
  const included: PendingItem[] = [];
  let previous = 0;
  for (let start = 0; start < selected.length; ) {
    const position = selected[start]!.position;
    let end = start;
    while (end < selected.length && selected[end]!.position === position) end += 1;
    const group = selected.slice(start, end).map((s) => s.item);
    start = end;
    // The estimate above is an upper bound, so this only trims if the core's limits change.
    while (group.length > 0) {
      const added = builder.addEntry(
        position - previous,
        group.map((item) => item.item),
      );
      if (added.ok) break;
      book.putBack([group.pop()!]);
    }
    if (group.length === 0) continue;
    included.push(...group);
    previous = position;
  }
  book.markProposed(included);
  return { block: builder.finish(), included, expired };
}
