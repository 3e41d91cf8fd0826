import { PUBLIC_KEY_BYTES } from "../keys.js";
import {
  currentLatticeKernel,
  LATTICE_BYTES,
  LATTICE_INPUT_BYTES,
  LATTICE_LANES,
  type LatticeKernel,
} from "./lattice-kernel.js";

/**
 * The accounts lattice hash of SIMD-0215, over this testnet's accounts (a key
 * and a balance). Each account maps to an element of (Z/2^16)^1024; the lattice
 * is the lane-wise wrapping sum over all existing accounts, so it is
 * independent of order and updates in O(1) per changed account.
 */
export { LATTICE_BYTES, LATTICE_LANES };

const U64_MAX = (1n << 64n) - 1n;

function checkAccount(pubkey: Uint8Array, lamports: bigint): void {
  if (pubkey.length !== PUBLIC_KEY_BYTES) throw new RangeError(`an account key is ${PUBLIC_KEY_BYTES} bytes`);
  if (lamports < 0n || lamports > U64_MAX) throw new RangeError(`not a u64: ${lamports}`);
}

/** Writes u64le(lamports) ‖ pubkey at `offset` of `bytes` (`view` is a DataView of the same bytes). */
function writeLatticeInput(
  bytes: Uint8Array,
  view: DataView,
  offset: number,
  pubkey: Uint8Array,
  lamports: bigint,
): void {
  view.setBigUint64(offset, lamports, true);
  bytes.set(pubkey, offset + 8);
}

/**
 * The bytes an account's element is the hash of: SIMD-0215's layout
 * (lamports, data, executable, owner, pubkey) with no data, owner or flag,
 * since accounts here hold only lamports: u64le(lamports) ‖ pubkey.
 */
export function accountLatticeInput(pubkey: Uint8Array, lamports: bigint): Uint8Array {
  checkAccount(pubkey, lamports);
  const input = new Uint8Array(LATTICE_INPUT_BYTES);
  writeLatticeInput(input, new DataView(input.buffer), 0, pubkey, lamports);
  return input;
}

/** An account's lattice element: 2048 bytes of blake3 output read as 1024 little-endian u16 lanes. */
export function accountLatticeElement(pubkey: Uint8Array, lamports: bigint): Uint16Array {
  const bytes = new Uint8Array(LATTICE_BYTES);
  currentLatticeKernel().elements(accountLatticeInput(pubkey, lamports), bytes);
  return lanesOf(bytes);
}

function lanesOf(bytes: Uint8Array): Uint16Array {
  const lanes = new Uint16Array(LATTICE_LANES);
  for (let i = 0; i < LATTICE_LANES; i++) lanes[i] = bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
  return lanes;
}

/** Enough that a batch pays the kernel call's cost once; bounds the memory a pending batch holds. */
const MAX_PENDING = 8_192;
const FIRST_PENDING_CAPACITY = 64;

/** Element inputs waiting to be applied: adding and subtracting commute, so they wait until the lanes are read. */
class PendingElements {
  readonly inputs: Uint8Array;
  readonly negate: Uint8Array;
  private readonly view: DataView;
  count = 0;

  constructor(readonly capacity: number) {
    this.inputs = new Uint8Array(capacity * LATTICE_INPUT_BYTES);
    this.negate = new Uint8Array(capacity);
    this.view = new DataView(this.inputs.buffer);
  }

  push(pubkey: Uint8Array, lamports: bigint, negate: boolean): void {
    writeLatticeInput(this.inputs, this.view, this.count * LATTICE_INPUT_BYTES, pubkey, lamports);
    this.negate[this.count] = negate ? 1 : 0;
    this.count++;
  }

  grown(): PendingElements {
    const grown = new PendingElements(Math.min(this.capacity * 2, MAX_PENDING));
    grown.inputs.set(this.inputs.subarray(0, this.count * LATTICE_INPUT_BYTES));
    grown.negate.set(this.negate.subarray(0, this.count));
    grown.count = this.count;
    return grown;
  }
}

/**
 * The lattice of a set of accounts. Changes are queued and applied in one
 * kernel call when the lattice is next read (toBytes, checksum, equals,
 * clone), so freezing a slot hashes all its changed accounts in one batch.
 */
export class AccountsLattice {
  private pending: PendingElements | null = null;

  private constructor(
    private readonly lanes: Uint16Array,
    private readonly kernel: LatticeKernel,
  ) {}

  /** The lattice of no accounts: every lane 0. */
  static empty(): AccountsLattice {
    return new AccountsLattice(new Uint16Array(LATTICE_LANES), currentLatticeKernel());
  }

  static fromBytes(bytes: Uint8Array): AccountsLattice {
    if (bytes.length !== LATTICE_BYTES)
      throw new RangeError(`a lattice is ${LATTICE_BYTES} bytes, got ${bytes.length}`);
    return new AccountsLattice(lanesOf(bytes), currentLatticeKernel());
  }

  clone(): AccountsLattice {
    return new AccountsLattice(Uint16Array.from(this.settled()), this.kernel);
  }

  /** Adds an account; one at 0 lamports does not exist and contributes nothing. */
  add(pubkey: Uint8Array, lamports: bigint): void {
    if (lamports === 0n) return;
    checkAccount(pubkey, lamports);
    this.enqueue(pubkey, lamports, false);
  }

  /** Removes an account state previously added. */
  subtract(pubkey: Uint8Array, lamports: bigint): void {
    if (lamports === 0n) return;
    checkAccount(pubkey, lamports);
    this.enqueue(pubkey, lamports, true);
  }

  /** An account changed from one balance to another; a bad argument throws and changes nothing. */
  update(pubkey: Uint8Array, before: bigint, after: bigint): void {
    if (before === after) return;
    if (before !== 0n) checkAccount(pubkey, before);
    if (after !== 0n) checkAccount(pubkey, after);
    this.subtract(pubkey, before);
    this.add(pubkey, after);
  }

  toBytes(): Uint8Array {
    const lanes = this.settled();
    const bytes = new Uint8Array(LATTICE_BYTES);
    for (let i = 0; i < LATTICE_LANES; i++) {
      const lane = lanes[i]!;
      bytes[2 * i] = lane & 0xff;
      bytes[2 * i + 1] = lane >>> 8;
    }
    return bytes;
  }

  /** The 32-byte accounts hash: blake3 of the 2048 lattice bytes. */
  checksum(): Uint8Array {
    return this.kernel.hash32(this.toBytes());
  }

  equals(other: AccountsLattice): boolean {
    const mine = this.settled();
    const theirs = other.settled();
    for (let i = 0; i < LATTICE_LANES; i++) if (mine[i] !== theirs[i]) return false;
    return true;
  }

  private enqueue(pubkey: Uint8Array, lamports: bigint, negate: boolean): void {
    let pending = this.pending ?? new PendingElements(FIRST_PENDING_CAPACITY);
    if (pending.count === pending.capacity) {
      if (pending.capacity < MAX_PENDING) pending = pending.grown();
      else this.applyPending(pending);
    }
    pending.push(pubkey, lamports, negate);
    this.pending = pending;
  }

  private applyPending(pending: PendingElements): void {
    const count = pending.count;
    this.kernel.apply(
      this.lanes,
      pending.inputs.subarray(0, count * LATTICE_INPUT_BYTES),
      pending.negate.subarray(0, count),
    );
    pending.count = 0;
  }

  /** The lanes with every queued change applied; the queue's memory is released. */
  private settled(): Uint16Array {
    if (this.pending !== null) {
      this.applyPending(this.pending);
      this.pending = null;
    }
    return this.lanes;
  }
}

/** The lattice of a set of accounts, from scratch. */
export function latticeOfAccounts(accounts: Iterable<readonly [Uint8Array, bigint]>): AccountsLattice {
  const lattice = AccountsLattice.empty();
  for (const [pubkey, lamports] of accounts) lattice.add(pubkey, lamports);
  return lattice;
}
