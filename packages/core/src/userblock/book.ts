import type { userblock } from "@simd23/proto";
import { bytesEqual, compareBytes, toHex } from "../bytes.js";
import type { Genesis } from "../genesis.js";
import { PUBLIC_KEY_BYTES, verifySignature } from "../keys.js";
import { type ProposerSchedule, userBlockSlotsRecordedIn } from "../schedule/proposer.js";
import {
  recordingTickHeight,
  slotOfUserBlockSlot,
  ticksPerUserBlockSlot,
  userBlockSlotOfTickHeight,
} from "../time.js";
import {
  checkDecodedUserBlock,
  decodeUserBlock,
  type UserBlockRefusalReason,
  userBlockComputeUnitLimit,
  type WellFormedUserBlock,
} from "./check.js";
import { userBlockHash, userBlockSigningInput } from "./digest.js";

/** A block header with the proposer's signature over its hash: what equivocation evidence is made of. */
export interface SignedUserBlockHeader {
  readonly header: userblock.UserBlockHeader;
  readonly signature: Uint8Array;
}

/** Two different blocks one proposer signed for one UserBlockSlot. */
export interface EquivocationEvidence {
  readonly proposer: Uint8Array;
  readonly userBlockSlot: number;
  readonly first: SignedUserBlockHeader;
  readonly second: SignedUserBlockHeader;
}

/** Why the book refuses a block: a well-formedness reason, or its timing, or equivocation. */
export type BookRefusalReason = UserBlockRefusalReason | "EARLY" | "LATE" | "EQUIVOCATION";

export type OfferResult =
  | { readonly status: "accepted"; readonly block: WellFormedUserBlock }
  /** The same block again: nothing changes. `recorded` when it was already taken for recording. */
  | { readonly status: "duplicate"; readonly blockHash: Uint8Array; readonly recorded: boolean }
  | {
      readonly status: "refused";
      readonly reason: BookRefusalReason;
      readonly detail: string;
      readonly evidence?: EquivocationEvidence;
    };

/** A held block that was not recorded, and why. */
export interface DroppedUserBlock {
  readonly block: WellFormedUserBlock;
  readonly reason: "UNSCHEDULED" | "OVER_LIMIT" | "LATE";
  readonly detail: string;
}

/** The blocks of one UserBlockSlot to record now, in arrival order. */
export interface RecordableUserBlockSlot {
  readonly userBlockSlot: number;
  readonly blocks: readonly WellFormedUserBlock[];
}

export interface TakeResult {
  /** Due UserBlockSlots of the slot being recorded (2s − 1, 2s), ascending. */
  readonly recordable: readonly RecordableUserBlockSlot[];
  readonly dropped: readonly DroppedUserBlock[];
}

export interface RecordingBookOptions {
  /**
   * How many UserBlockSlots after recording the book keeps the signed headers
   * it took, to refuse a later conflicting block with evidence (default 64).
   */
  readonly evidenceRetentionUserBlockSlots?: number;
}

type Holding =
  | { readonly kind: "held"; readonly block: WellFormedUserBlock; readonly arrival: number }
  | { readonly kind: "equivocated"; readonly evidence: EquivocationEvidence };

interface Taken {
  readonly blockHash: Uint8Array;
  readonly signed: SignedUserBlockHeader;
}

const signedHeaderOf = (block: WellFormedUserBlock): SignedUserBlockHeader => ({
  header: block.header,
  signature: block.block.signature,
});

/**
 * The leader's recording rules for UserBlocks, as a deterministic book the
 * leader service feeds with arriving blocks and its PoH tick height.
 *
 * - A block for UserBlockSlot u is taken while the tick height is below
 *   recordingTickHeight(u): from the start of u (a block for a later u is EARLY)
 *   until the end of u plus the grace (after that it is LATE).
 * - Only a well-formed block ({@link checkUserBlock}) from a proposer scheduled
 *   at u counts; at most one per (proposer, u). The same block again is
 *   idempotent. Two different blocks are equivocation: neither is recorded,
 *   and the book returns evidence (both signed headers).
 * - Once a block was taken for recording its entry stands; a different block
 *   arriving later is refused as EQUIVOCATION with evidence, not recorded.
 * - {@link take} yields the due blocks of the slot's two UserBlockSlots in
 *   arrival order and forgets them (keeping only their signed headers).
 */
export class RecordingBook {
  private readonly open = new Map<number, Map<string, Holding>>();
  private readonly taken = new Map<number, Map<string, Taken>>();
  private readonly retention: number;
  private arrivals = 0;
  /** Every UserBlockSlot ≤ this is closed: its blocks were taken or dropped. */
  private closedThrough = 0;

  constructor(
    private readonly genesis: Genesis,
    options: RecordingBookOptions = {},
  ) {
    this.retention = options.evidenceRetentionUserBlockSlots ?? 64;
  }

  /** Blocks held for recording. */
  get heldBlocks(): number {
    let count = 0;
    for (const holdings of this.open.values())
      for (const holding of holdings.values()) if (holding.kind === "held") count++;
    return count;
  }

  /**
   * Offers an encoded UserBlock that arrived while the leader's PoH is at
   * `tickHeight`, judged against the leader's current proposer schedule.
   */
  offer(bytes: Uint8Array, tickHeight: number, schedule: ProposerSchedule): OfferResult {
    const decoded = decodeUserBlock(this.genesis, bytes);
    if (!decoded.ok) return { status: "refused", reason: decoded.reason, detail: decoded.detail };
    const { block, header } = decoded;
    const u = header.userBlockSlot;
    const { timing } = this.genesis;
    const current = userBlockSlotOfTickHeight(timing, tickHeight);
    if (u > current)
      return { status: "refused", reason: "EARLY", detail: `UserBlockSlot ${u} starts after ${current}` };
    if (
      u <= this.closedThrough ||
      tickHeight >= recordingTickHeight(timing, u) ||
      slotOfUserBlockSlot(u) < schedule.slot
    )
      return this.late(block, header);

    const checked = checkDecodedUserBlock(this.genesis, bytes, block, header, schedule.activeAt(u));
    if (!checked.ok) return { status: "refused", reason: checked.reason, detail: checked.detail };
    const wellFormed = checked.block;
    let holdings = this.open.get(u);
    if (holdings === undefined) {
      holdings = new Map();
      this.open.set(u, holdings);
    }
    const id = toHex(header.proposer);
    const holding = holdings.get(id);
    if (holding === undefined) {
      holdings.set(id, { kind: "held", block: wellFormed, arrival: this.arrivals++ });
      return { status: "accepted", block: wellFormed };
    }
    if (holding.kind === "equivocated")
      return {
        status: "refused",
        reason: "EQUIVOCATION",
        detail: "the proposer equivocated",
        evidence: holding.evidence,
      };
    if (bytesEqual(holding.block.blockHash, wellFormed.blockHash))
      return { status: "duplicate", blockHash: wellFormed.blockHash, recorded: false };
    const evidence: EquivocationEvidence = {
      proposer: header.proposer,
      userBlockSlot: u,
      first: signedHeaderOf(holding.block),
      second: signedHeaderOf(wellFormed),
    };
    holdings.set(id, { kind: "equivocated", evidence });
    return {
      status: "refused",
      reason: "EQUIVOCATION",
      detail: "a second, different block for the same UserBlockSlot: neither is recorded",
      evidence,
    };
  }

  private late(block: userblock.UserBlock, header: userblock.UserBlockHeader): OfferResult {
    const u = header.userBlockSlot;
    const detail = `UserBlockSlot ${u} was already recorded or is past its recording tick height`;
    const taken = this.taken.get(u)?.get(toHex(header.proposer));
    if (taken === undefined) return { status: "refused", reason: "LATE", detail };
    const blockHash = userBlockHash(header);
    if (bytesEqual(blockHash, taken.blockHash)) return { status: "duplicate", blockHash, recorded: true };
    if (!verifySignature(header.proposer, userBlockSigningInput(blockHash), block.signature))
      return { status: "refused", reason: "LATE", detail };
    return {
      status: "refused",
      reason: "EQUIVOCATION",
      detail: "a different block for a UserBlockSlot whose entry is already recorded: the entry stands",
      evidence: {
        proposer: header.proposer,
        userBlockSlot: u,
        first: taken.signed,
        second: { header, signature: block.signature },
      },
    };
  }

  /**
   * The blocks to record now in slot `slot`, whose PoH is at `tickHeight`: for
   * each of 2s − 1 and 2s whose recording tick height has passed, the held
   * blocks in arrival order, re-checked against `schedule` (the chain the slot
   * extends). Blocks of earlier UserBlockSlots that were never taken are
   * dropped as LATE. Every due UserBlockSlot is listed, with no blocks when
   * none arrived; everything returned is forgotten.
   */
  take(slot: number, tickHeight: number, schedule: ProposerSchedule): TakeResult {
    const { timing } = this.genesis;
    const half = ticksPerUserBlockSlot(timing);
    const dueThrough = Math.min(2 * slot, Math.floor((tickHeight - timing.graceTicks) / half) - 1);
    const recordable: RecordableUserBlockSlot[] = [];
    const dropped: DroppedUserBlock[] = [];
    const heldOf = (u: number) => {
      const holdings = this.open.get(u);
      this.open.delete(u);
      return [...(holdings?.values() ?? [])]
        .flatMap((h) => (h.kind === "held" ? [h] : []))
        .sort((a, b) => a.arrival - b.arrival);
    };
    for (const u of [...this.open.keys()].sort((a, b) => a - b)) {
      if (u >= 2 * slot - 1) break;
      for (const { block } of heldOf(u))
        dropped.push({ block, reason: "LATE", detail: `UserBlockSlot ${u} was not recorded by its slot` });
    }
    for (const u of userBlockSlotsRecordedIn(slot)) {
      if (u <= this.closedThrough || u > dueThrough) continue;
      const active = schedule.activeAt(u);
      const limit = active.length > 0 ? userBlockComputeUnitLimit(this.genesis.limits, active.length) : 0n;
      const blocks: WellFormedUserBlock[] = [];
      const takenHere = new Map<string, Taken>();
      for (const { block } of heldOf(u)) {
        if (!active.some((p) => compareBytes(p, block.proposer) === 0))
          dropped.push({
            block,
            reason: "UNSCHEDULED",
            detail: "not scheduled at its UserBlockSlot on this chain",
          });
        else if (block.header.computeUnits > limit)
          dropped.push({
            block,
            reason: "OVER_LIMIT",
            detail: `over the ${limit} compute units of this chain`,
          });
        else {
          blocks.push(block);
          takenHere.set(toHex(block.proposer), { blockHash: block.blockHash, signed: signedHeaderOf(block) });
        }
      }
      this.taken.set(u, takenHere);
      recordable.push({ userBlockSlot: u, blocks });
    }
    this.closedThrough = Math.max(this.closedThrough, dueThrough);
    for (const u of this.taken.keys()) if (u < this.closedThrough - this.retention) this.taken.delete(u);
    return { recordable, dropped };
  }
}

/** Whether evidence proves equivocation: one proposer validly signed two different headers for one UserBlockSlot. */
export function verifyEquivocationEvidence(evidence: EquivocationEvidence): boolean {
  const { proposer, userBlockSlot, first, second } = evidence;
  if (proposer.length !== PUBLIC_KEY_BYTES) return false;
  const hashes: Uint8Array[] = [];
  for (const signed of [first, second]) {
    if (!bytesEqual(signed.header.proposer, proposer) || signed.header.userBlockSlot !== userBlockSlot)
      return false;
    let hash: Uint8Array;
    try {
      hash = userBlockHash(signed.header);
    } catch {
      return false;
    }
    if (!verifySignature(proposer, userBlockSigningInput(hash), signed.signature)) return false;
    hashes.push(hash);
  }
  return !bytesEqual(hashes[0]!, hashes[1]!);
}
