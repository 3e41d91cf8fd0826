import { type tx, userblock } from "@simd23/proto";
import { concatBytes } from "../bytes.js";
import type { Genesis } from "../genesis.js";
import { type Keypair, SIGNATURE_BYTES, signMessage } from "../keys.js";
import { nextEntryHash } from "../poh/entry.js";
import { userBlockComputeUnitLimit, userBlockHashLimit, type WellFormedUserBlock } from "./check.js";
import { entryItemsMixin, userBlockHash, userBlockPohStart, userBlockSigningInput } from "./digest.js";
import { type ItemRefusalReason, inspectItem, type PositionedItem } from "./items.js";

export interface UserBlockBuilderOptions {
  readonly genesis: Genesis;
  /** The proposer's key: it names the proposer and signs the block. */
  readonly keypair: Keypair;
  readonly userBlockSlot: number;
  /** Size of the active set at userBlockSlot: it sets the block's compute-unit limit. */
  readonly activeProposerCount: number;
}

export type AddEntryResult =
  | { readonly ok: true; readonly entry: userblock.BlockEntry; readonly items: readonly PositionedItem[] }
  | { readonly ok: false; readonly reason: ItemRefusalReason; readonly detail: string };

// Protobuf field keys of UserBlock: header (1), entries (2), signature (3), all length-delimited.
const HEADER_KEY = 0x0a;
const ENTRY_KEY = 0x12;
const SIGNATURE_KEY = 0x1a;
// The largest encoded header: two 32-byte fields (2 + 32 each), four uint32
// (1 + 5 each) and one uint64 (1 + 10); plus its own key and length.
const MAX_HEADER_BYTES = 2 * 34 + 4 * 6 + 11;
const MAX_HEADER_FIELD_BYTES = 1 + varint(MAX_HEADER_BYTES).length + MAX_HEADER_BYTES;
const SIGNATURE_FIELD_BYTES = 2 + SIGNATURE_BYTES;

function varint(value: number): Uint8Array {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return Uint8Array.from(out);
}

function field(key: number, body: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(key), varint(body.length), body);
}

/**
 * Builds one proposer's UserBlock for one UserBlockSlot. The proposer service
 * owns the clock: it says how many PoH hashes passed before each entry; the
 * builder hashes, checks every limit before it changes anything, and signs at
 * the end. A block it finishes always passes {@link checkUserBlock}.
 */
export class UserBlockBuilder {
  readonly proposer: Uint8Array;
  readonly userBlockSlot: number;
  readonly computeUnitLimit: bigint;
  readonly hashLimit: number;
  private readonly genesis: Genesis;
  private readonly keypair: Keypair;
  private readonly entries: userblock.BlockEntry[] = [];
  private readonly entryFields: Uint8Array[] = [];
  private readonly positioned: PositionedItem[] = [];
  private entryBytes = 0;
  private hashes = 0;
  private transactions = 0;
  private units = 0n;
  private head: Uint8Array;
  private finished = false;

  constructor(options: UserBlockBuilderOptions) {
    this.genesis = options.genesis;
    this.keypair = options.keypair;
    this.proposer = options.keypair.publicKey;
    this.userBlockSlot = options.userBlockSlot;
    this.computeUnitLimit = userBlockComputeUnitLimit(options.genesis.limits, options.activeProposerCount);
    this.hashLimit = userBlockHashLimit(options.genesis.timing);
    this.head = userBlockPohStart(this.proposer, this.userBlockSlot);
  }

  get entryCount(): number {
    return this.entries.length;
  }

  get transactionCount(): number {
    return this.transactions;
  }

  get computeUnits(): bigint {
    return this.units;
  }

  get numHashes(): number {
    return this.hashes;
  }

  /** The PoH hash after the last entry. */
  get lastHash(): Uint8Array {
    return this.head;
  }

  get remainingComputeUnits(): bigint {
    return this.computeUnitLimit - this.units;
  }

  get remainingHashes(): number {
    return this.hashLimit - this.hashes;
  }

  /** Encoded bytes still free for entries, with room kept for the largest header and the signature. */
  get remainingBytes(): number {
    return (
      this.genesis.limits.maxUserBlockBytes - MAX_HEADER_FIELD_BYTES - SIGNATURE_FIELD_BYTES - this.entryBytes
    );
  }

  /**
   * Appends an entry of `items` (none: plain hashing) after `numHashes` hashes
   * since the previous entry, the mixin hash included. Refuses, changing
   * nothing, an item that is malformed or over a per-transaction limit, and an
   * entry that would take the block over its hash, compute-unit or byte limit.
   */
  addEntry(numHashes: number, items: readonly tx.TransactionItem[]): AddEntryResult {
    if (this.finished) throw new Error("the UserBlock is already finished");
    if (!Number.isSafeInteger(numHashes) || numHashes < 1)
      throw new RangeError(`an entry takes at least one hash, got ${numHashes}`);
    if (numHashes > this.remainingHashes) {
      return {
        ok: false,
        reason: "OVER_LIMIT",
        detail: `${numHashes} hashes, ${this.remainingHashes} left of ${this.hashLimit}`,
      };
    }
    const inspected = [];
    let units = 0n;
    let transactions = 0;
    for (const [i, item] of items.entries()) {
      const result = inspectItem(item, this.genesis.limits);
      if (!result.ok) return { ok: false, reason: result.reason, detail: `item ${i}: ${result.detail}` };
      inspected.push(result);
      units += BigInt(result.computeUnits);
      transactions += result.transactionCount;
    }
    if (units > this.remainingComputeUnits) {
      return {
        ok: false,
        reason: "OVER_LIMIT",
        detail: `${units} compute units, ${this.remainingComputeUnits} left of ${this.computeUnitLimit}`,
      };
    }
    const mixin = entryItemsMixin(inspected.map((r) => r.digest));
    const hash = nextEntryHash(this.head, numHashes, mixin);
    const entry: userblock.BlockEntry = { numHashes, hash, items: [...items] };
    const encoded = field(ENTRY_KEY, userblock.BlockEntry.encode(entry).finish());
    if (encoded.length > this.remainingBytes) {
      return {
        ok: false,
        reason: "OVER_LIMIT",
        detail: `the entry takes ${encoded.length} bytes, ${Math.max(0, this.remainingBytes)} left`,
      };
    }
    const entryIndex = this.entries.length;
    const position = this.hashes + numHashes;
    const added = inspected.map(
      (r, i): PositionedItem => ({
        item: items[i]!,
        valid: r.valid,
        digest: r.digest,
        computeUnits: r.computeUnits,
        transactionCount: r.transactionCount,
        entryIndex,
        indexInBlock: this.positioned.length + i,
        pohPosition: position,
      }),
    );
    this.entries.push(entry);
    this.entryFields.push(encoded);
    this.positioned.push(...added);
    this.entryBytes += encoded.length;
    this.hashes = position;
    this.transactions += transactions;
    this.units += units;
    this.head = hash;
    return { ok: true, entry, items: added };
  }

  /** Seals the block: header, block hash, the proposer's signature, and the encoded bytes to publish. */
  finish(): WellFormedUserBlock {
    if (this.finished) throw new Error("the UserBlock is already finished");
    this.finished = true;
    const header: userblock.UserBlockHeader = {
      proposer: this.proposer,
      userBlockSlot: this.userBlockSlot,
      numHashes: this.hashes,
      lastHash: this.head,
      entryCount: this.entries.length,
      transactionCount: this.transactions,
      computeUnits: this.units,
    };
    const blockHash = userBlockHash(header);
    const signature = signMessage(this.keypair, userBlockSigningInput(blockHash));
    // The entries were encoded once, to measure them; the block reuses those bytes.
    const bytes = concatBytes(
      field(HEADER_KEY, userblock.UserBlockHeader.encode(header).finish()),
      ...this.entryFields,
      field(SIGNATURE_KEY, signature),
    );
    return {
      bytes,
      block: { header, entries: this.entries, signature },
      header,
      blockHash,
      proposer: this.proposer,
      userBlockSlot: this.userBlockSlot,
      items: this.positioned,
    };
  }
}
