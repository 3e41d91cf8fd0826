import { toBase58 } from "@simd23/core";
import { type Codec, type Store, StoreError, valueKey } from "@simd23/store";

/** A rooted bank as an executor saved it: the snapshot bytes and where in the LEDGER stream its slot ended. */
export interface StoredSnapshot {
  /** `encodeBankSnapshot` of the rooted bank (checksummed by the core). */
  readonly bytes: Uint8Array;
  readonly slot: number;
  /** The LEDGER stream sequence of the slot's last message. */
  readonly ledgerSequence: number;
  readonly writtenAtMs: number;
}

const HEADER_BYTES = 4 + 8 + 8;

/** slot (u32) ‖ ledgerSequence (u64) ‖ writtenAtMs (u64) ‖ snapshot bytes, little-endian: one value, written in one SET. */
const storedSnapshotCodec: Codec<StoredSnapshot> = {
  name: "bank-snapshot",
  encode(value) {
    const out = new Uint8Array(HEADER_BYTES + value.bytes.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, value.slot, true);
    view.setBigUint64(4, BigInt(value.ledgerSequence), true);
    view.setBigUint64(12, BigInt(value.writtenAtMs), true);
    out.set(value.bytes, HEADER_BYTES);
    return out;
  },
  decode(bytes) {
    if (bytes.length < HEADER_BYTES) throw new StoreError("DECODE", "bank-snapshot: shorter than its header");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return {
      slot: view.getUint32(0, true),
      ledgerSequence: Number(view.getBigUint64(4, true)),
      writtenAtMs: Number(view.getBigUint64(12, true)),
      bytes: bytes.slice(HEADER_BYTES),
    };
  },
};

/**
 * Executor bank snapshots in the shared store, one per validator under
 * `snapshot/<validator base58>`: the newest write replaces the previous one
 * whole, so a reader never sees half of two snapshots.
 */
export class SnapshotStore {
  constructor(private readonly store: Store) {}

  private key(owner: Uint8Array) {
    return valueKey(`snapshot/${toBase58(owner)}`, storedSnapshotCodec);
  }

  save(owner: Uint8Array, snapshot: StoredSnapshot): Promise<void> {
    return this.store.set(this.key(owner), snapshot);
  }

  load(owner: Uint8Array): Promise<StoredSnapshot | undefined> {
    return this.store.get(this.key(owner));
  }

  delete(owner: Uint8Array): Promise<boolean> {
    return this.store.delete(this.key(owner));
  }
}
