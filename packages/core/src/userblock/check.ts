import { userblock } from "@simd23/proto";
import { bytesEqual, compareBytes, toHex } from "../bytes.js";
import type { Genesis, Limits, Timing } from "../genesis.js";
import { HASH_BYTES } from "../hash.js";
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES, verifySignature } from "../keys.js";
import { firstInvalidEntry, type PohEntry } from "../poh/entry.js";
import { ticksPerUserBlockSlot } from "../time.js";
import { entryItemsMixin, userBlockHash, userBlockPohStart, userBlockSigningInput } from "./digest.js";
import { inspectItem, type PositionedItem } from "./items.js";

/** Why a UserBlock is not well-formed. */
export type UserBlockRefusalReason =
  | "MALFORMED"
  | "WRONG_SLOT"
  | "WRONG_HASH"
  | "UNSCHEDULED"
  | "OVER_LIMIT"
  | "BAD_SIGNATURE"
  | "BAD_POH";

/** A UserBlock that passed {@link checkUserBlock} (or was built and signed by {@link UserBlockBuilder}). */
export interface WellFormedUserBlock {
  /** The encoded userblock.UserBlock, exactly as received or published. */
  readonly bytes: Uint8Array;
  readonly block: userblock.UserBlock;
  readonly header: userblock.UserBlockHeader;
  readonly blockHash: Uint8Array;
  readonly proposer: Uint8Array;
  readonly userBlockSlot: number;
  /** Every item in block order, with its PoH position. */
  readonly items: readonly PositionedItem[];
}

export type UserBlockCheck =
  | { readonly ok: true; readonly block: WellFormedUserBlock }
  | { readonly ok: false; readonly reason: UserBlockRefusalReason; readonly detail: string };

/** What the caller already knows the block must be (an executor fetching the block a UserBlockEntry names). */
export interface UserBlockExpectation {
  readonly userBlockSlot?: number;
  readonly blockHash?: Uint8Array;
}

/**
 * The compute units one UserBlock may hold: the slot's limit split over the
 * UserBlocks of a slot, floor(maxSlotComputeUnits / (2 × activeProposerCount)).
 */
export function userBlockComputeUnitLimit(limits: Limits, activeProposerCount: number): bigint {
  if (!Number.isSafeInteger(activeProposerCount) || activeProposerCount < 1)
    throw new RangeError(
      `a UserBlockSlot with a block has at least one active proposer, got ${activeProposerCount}`,
    );
  return limits.maxSlotComputeUnits / BigInt(2 * activeProposerCount);
}

/** The most PoH hashes a UserBlock can hold: its UserBlockSlot's ticks at the proposer's rate. */
export function userBlockHashLimit(timing: Timing): number {
  return ticksPerUserBlockSlot(timing) * timing.proposerHashesPerTick;
}

const refuse = (reason: UserBlockRefusalReason, detail: string): UserBlockCheck => ({
  ok: false,
  reason,
  detail,
});

export type DecodedUserBlock =
  | { readonly ok: true; readonly block: userblock.UserBlock; readonly header: userblock.UserBlockHeader }
  | { readonly ok: false; readonly reason: "MALFORMED" | "OVER_LIMIT"; readonly detail: string };

/** Decodes the bytes and checks the size limit, that the encoding is canonical, and the header's shape. */
export function decodeUserBlock(genesis: Genesis, bytes: Uint8Array): DecodedUserBlock {
  if (bytes.length > genesis.limits.maxUserBlockBytes) {
    return {
      ok: false,
      reason: "OVER_LIMIT",
      detail: `${bytes.length} bytes, the limit is ${genesis.limits.maxUserBlockBytes}`,
    };
  }
  let block: userblock.UserBlock;
  try {
    block = userblock.UserBlock.decode(bytes);
  } catch (error) {
    return { ok: false, reason: "MALFORMED", detail: `not a UserBlock: ${(error as Error).message}` };
  }
  // The reader accepts some non-canonical forms (a nested length shorter than
  // the message inside it); one block has one byte form, as transactions do.
  if (!bytesEqual(userblock.UserBlock.encode(block).finish(), bytes))
    return { ok: false, reason: "MALFORMED", detail: "the encoding is not canonical" };
  const { header } = block;
  if (header === undefined) return { ok: false, reason: "MALFORMED", detail: "the header is missing" };
  const problem =
    header.proposer.length !== PUBLIC_KEY_BYTES
      ? `the proposer is ${header.proposer.length} bytes, not ${PUBLIC_KEY_BYTES}`
      : header.lastHash.length !== HASH_BYTES
        ? `lastHash is ${header.lastHash.length} bytes, not ${HASH_BYTES}`
        : block.signature.length !== SIGNATURE_BYTES
          ? `the signature is ${block.signature.length} bytes, not ${SIGNATURE_BYTES}`
          : null;
  if (problem !== null) return { ok: false, reason: "MALFORMED", detail: problem };
  return { ok: true, block, header };
}

/**
 * The well-formedness check the leader runs before recording a block and every
 * executor runs before executing it, cheapest rule first: size; canonical
 * encoding; header shape;
 * expected slot; scheduled proposer; each entry and item decodes within the
 * per-transaction limits; the header's totals match the entries; the hash and
 * compute-unit limits; expected hash; the proposer's signature; the PoH.
 * Transaction signatures are not checked here (executors check them).
 */
export function checkUserBlock(
  genesis: Genesis,
  bytes: Uint8Array,
  activeProposers: readonly Uint8Array[],
  expected: UserBlockExpectation = {},
): UserBlockCheck {
  const decoded = decodeUserBlock(genesis, bytes);
  if (!decoded.ok) return decoded;
  return checkDecodedUserBlock(genesis, bytes, decoded.block, decoded.header, activeProposers, expected);
}

/** {@link checkUserBlock} after {@link decodeUserBlock}. */
export function checkDecodedUserBlock(
  genesis: Genesis,
  bytes: Uint8Array,
  block: userblock.UserBlock,
  header: userblock.UserBlockHeader,
  activeProposers: readonly Uint8Array[],
  expected: UserBlockExpectation = {},
): UserBlockCheck {
  const { timing, limits } = genesis;
  const { proposer, userBlockSlot } = header;
  if (expected.userBlockSlot !== undefined && expected.userBlockSlot !== userBlockSlot)
    return refuse(
      "WRONG_SLOT",
      `the block is for UserBlockSlot ${userBlockSlot}, not ${expected.userBlockSlot}`,
    );
  if (!activeProposers.some((p) => compareBytes(p, proposer) === 0))
    return refuse(
      "UNSCHEDULED",
      `proposer ${toHex(proposer)} is not scheduled at UserBlockSlot ${userBlockSlot}`,
    );

  const hashLimit = userBlockHashLimit(timing);
  const items: PositionedItem[] = [];
  const pohEntries: PohEntry[] = [];
  let numHashes = 0;
  let transactionCount = 0;
  let computeUnits = 0n;
  for (const [entryIndex, entry] of block.entries.entries()) {
    if (entry.numHashes < 1) return refuse("MALFORMED", `entry ${entryIndex} has no hash`);
    if (entry.hash.length !== HASH_BYTES)
      return refuse("MALFORMED", `entry ${entryIndex}: its hash is ${entry.hash.length} bytes`);
    numHashes += entry.numHashes;
    if (numHashes > hashLimit)
      return refuse(
        "OVER_LIMIT",
        `more than ${hashLimit} PoH hashes (${timing.proposerHashesPerTick} per tick)`,
      );
    const digests: Uint8Array[] = [];
    for (const item of entry.items) {
      const inspected = inspectItem(item, limits);
      if (!inspected.ok)
        return refuse(inspected.reason, `entry ${entryIndex}, item ${items.length}: ${inspected.detail}`);
      digests.push(inspected.digest);
      transactionCount += inspected.transactionCount;
      computeUnits += BigInt(inspected.computeUnits);
      items.push({
        item,
        valid: inspected.valid,
        digest: inspected.digest,
        computeUnits: inspected.computeUnits,
        transactionCount: inspected.transactionCount,
        entryIndex,
        indexInBlock: items.length,
        pohPosition: numHashes,
      });
    }
    pohEntries.push({ numHashes: entry.numHashes, hash: entry.hash, mixin: entryItemsMixin(digests) });
  }
  const start = userBlockPohStart(proposer, userBlockSlot);
  const lastHash = pohEntries.at(-1)?.hash ?? start;
  const mismatch =
    header.numHashes !== numHashes
      ? `numHashes ${header.numHashes}, the entries hold ${numHashes}`
      : header.entryCount !== block.entries.length
        ? `entryCount ${header.entryCount}, the block has ${block.entries.length}`
        : header.transactionCount !== transactionCount
          ? `transactionCount ${header.transactionCount}, the entries hold ${transactionCount}`
          : header.computeUnits !== computeUnits
            ? `computeUnits ${header.computeUnits}, the transactions' limits sum to ${computeUnits}`
            : !bytesEqual(header.lastHash, lastHash)
              ? "lastHash is not the last entry's hash"
              : null;
  if (mismatch !== null) return refuse("MALFORMED", `the header does not match the entries: ${mismatch}`);
  const computeLimit = userBlockComputeUnitLimit(limits, activeProposers.length);
  if (computeUnits > computeLimit)
    return refuse("OVER_LIMIT", `${computeUnits} compute units, the per-UserBlock limit is ${computeLimit}`);

  const blockHash = userBlockHash(header);
  if (expected.blockHash !== undefined && !bytesEqual(expected.blockHash, blockHash))
    return refuse("WRONG_HASH", `the block hash is ${toHex(blockHash)}, not ${toHex(expected.blockHash)}`);
  if (!verifySignature(proposer, userBlockSigningInput(blockHash), block.signature))
    return refuse("BAD_SIGNATURE", "the proposer's signature over the block hash does not verify");
  const bad = firstInvalidEntry(start, pohEntries);
  if (bad !== -1) return refuse("BAD_POH", `entry ${bad} does not follow from its predecessor`);
  return { ok: true, block: { bytes, block, header, blockHash, proposer, userBlockSlot, items } };
}
