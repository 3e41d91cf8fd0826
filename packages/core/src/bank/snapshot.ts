import { bytesEqual, compareBytes, utf8 } from "../bytes.js";
import type { Genesis } from "../genesis.js";
import { HASH_BYTES, sha256 } from "../hash.js";
import { PUBLIC_KEY_BYTES, SIGNATURE_BYTES } from "../keys.js";
import { Bank, BankError, type BankOptions, type BankSnapshotState } from "./bank.js";
import { LATTICE_BYTES, latticeOfAccounts } from "./lattice.js";

/**
 * A frozen root bank as bytes, so an executor survives a restart: load the
 * snapshot, replay the ledger after its slot, reach the same BankHashes.
 *
 * Layout (integers little-endian):
 *   "simd23/snapshot/v1" ‖ genesisHash ‖ u32 slot ‖ u32 parentSlot+1 (0: none)
 *   ‖ parentBankHash ‖ bankHash ‖ lastPohHash ‖ u64 signatureCount
 *   ‖ u32 lastUserBlockSlot+1 (0: none) ‖ lattice (2048)
 *   ‖ u32 n ‖ n × (pubkey 32 ‖ u64 lamports)        accounts, ascending keys
 *   ‖ u32 n ‖ n × (hash 32 ‖ u32 slot)              recent blockhashes, by slot then hash
 *   ‖ u32 n ‖ n × (id 64 ‖ u32 blockhash slot)      status cache, ascending ids
 *   ‖ sha256 of everything before
 */
const MAGIC = utf8("simd23/snapshot/v1");

export class SnapshotError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SnapshotError";
  }
}

class Writer {
  private readonly chunks: Uint8Array[] = [];

  bytes(bytes: Uint8Array): void {
    this.chunks.push(bytes);
  }

  u32(value: number): void {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, value, true);
    this.chunks.push(out);
  }

  u64(value: bigint): void {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, value, true);
    this.chunks.push(out);
  }

  finish(): Uint8Array {
    const body = Buffer.concat(this.chunks);
    return new Uint8Array(Buffer.concat([body, sha256(body)]));
  }
}

class Reader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly input: Uint8Array) {
    this.view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  }

  bytes(length: number): Uint8Array {
    if (this.offset + length > this.input.length) throw new SnapshotError("the snapshot is truncated");
    const out = this.input.slice(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  u32(): number {
    if (this.offset + 4 > this.input.length) throw new SnapshotError("the snapshot is truncated");
    const value = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  u64(): bigint {
    if (this.offset + 8 > this.input.length) throw new SnapshotError("the snapshot is truncated");
    const value = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return value;
  }

  /** A count of records of the given size, checked against what is left before allocating. */
  count(recordBytes: number): number {
    const n = this.u32();
    if (n * recordBytes > this.input.length - this.offset)
      throw new SnapshotError("the snapshot is truncated");
    return n;
  }

  get done(): boolean {
    return this.offset === this.input.length;
  }
}

/** Serializes a frozen root bank (pure: the same bank always gives the same bytes). */
export function encodeBankSnapshot(bank: Bank): Uint8Array {
  const state = bank.snapshotState();
  const w = new Writer();
  w.bytes(MAGIC);
  w.bytes(state.genesisHash);
  w.u32(state.slot);
  w.u32(state.parentSlot === null ? 0 : state.parentSlot + 1);
  w.bytes(state.parentBankHash);
  w.bytes(state.bankHash);
  w.bytes(state.lastPohHash);
  w.u64(BigInt(state.signatureCount));
  w.u32(state.lastUserBlockSlot + 1);
  w.bytes(state.lattice);
  w.u32(state.accounts.length);
  for (const [pubkey, lamports] of state.accounts) {
    w.bytes(pubkey);
    w.u64(lamports);
  }
  w.u32(state.recentBlockhashes.length);
  for (const [hash, slot] of state.recentBlockhashes) {
    w.bytes(hash);
    w.u32(slot);
  }
  w.u32(state.statusCache.length);
  for (const [id, blockhashSlot] of state.statusCache) {
    w.bytes(id);
    w.u32(blockhashSlot);
  }
  return w.finish();
}

function strictlyAscending(items: readonly (readonly [Uint8Array, unknown])[], what: string): void {
  for (let i = 1; i < items.length; i++)
    if (compareBytes(items[i - 1]![0], items[i]![0]) >= 0)
      throw new SnapshotError(`${what} are not in ascending order`);
}

/**
 * Rebuilds the frozen root bank of a snapshot for this genesis. Checks the
 * checksum, the layout, that the lattice is the lattice of the accounts and
 * that the BankHash follows from the contents; throws a SnapshotError otherwise.
 */
export function decodeBankSnapshot(bytes: Uint8Array, genesis: Genesis, options: BankOptions = {}): Bank {
  if (bytes.length < MAGIC.length + HASH_BYTES) throw new SnapshotError("the snapshot is truncated");
  const body = bytes.subarray(0, bytes.length - HASH_BYTES);
  if (!bytesEqual(sha256(body), bytes.subarray(bytes.length - HASH_BYTES)))
    throw new SnapshotError("the snapshot checksum does not match: it is corrupt or truncated");
  const r = new Reader(body);
  if (!bytesEqual(r.bytes(MAGIC.length), MAGIC)) throw new SnapshotError("not a simd23 v1 bank snapshot");
  const genesisHash = r.bytes(HASH_BYTES);
  const slot = r.u32();
  const parentSlotPlusOne = r.u32();
  const parentBankHash = r.bytes(HASH_BYTES);
  const bankHash = r.bytes(HASH_BYTES);
  const lastPohHash = r.bytes(HASH_BYTES);
  const signatureCount = r.u64();
  if (signatureCount > BigInt(Number.MAX_SAFE_INTEGER))
    throw new SnapshotError("signatureCount is out of range");
  const lastUserBlockSlot = r.u32() - 1;
  const lattice = r.bytes(LATTICE_BYTES);
  const accounts = Array.from({ length: r.count(PUBLIC_KEY_BYTES + 8) }, () => {
    const pubkey = r.bytes(PUBLIC_KEY_BYTES);
    return [pubkey, r.u64()] as const;
  });
  const recentBlockhashes = Array.from({ length: r.count(HASH_BYTES + 4) }, () => {
    const hash = r.bytes(HASH_BYTES);
    return [hash, r.u32()] as const;
  });
  const statusCache = Array.from({ length: r.count(SIGNATURE_BYTES + 4) }, () => {
    const id = r.bytes(SIGNATURE_BYTES);
    return [id, r.u32()] as const;
  });
  if (!r.done) throw new SnapshotError("the snapshot has trailing bytes");
  strictlyAscending(accounts, "accounts");
  strictlyAscending(statusCache, "status cache ids");
  if (accounts.some(([, lamports]) => lamports === 0n))
    throw new SnapshotError("the snapshot lists an account with 0 lamports");
  if (!bytesEqual(latticeOfAccounts(accounts).toBytes(), lattice))
    throw new SnapshotError("the snapshot's lattice is not the lattice of its accounts");
  const state: BankSnapshotState = {
    genesisHash,
    slot,
    parentSlot: parentSlotPlusOne === 0 ? null : parentSlotPlusOne - 1,
    parentBankHash,
    bankHash,
    lastPohHash,
    signatureCount: Number(signatureCount),
    lastUserBlockSlot,
    lattice,
    accounts,
    recentBlockhashes,
    statusCache,
  };
  try {
    return Bank.fromSnapshotState(state, genesis, options);
  } catch (error) {
    if (error instanceof BankError) throw new SnapshotError(error.message);
    throw error;
  }
}
