import { blake3 } from "@noble/hashes/blake3.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { concatBytes, toHex, u64le, utf8 } from "../bytes.js";
import { genesisHash } from "../genesis.js";
import { sha256 } from "../hash.js";
import { createGenesisBank } from "./bank.js";
import { fixtureGenesis, pohHashOf, transfer, user, userBlock } from "./fixture.js";
import {
  AccountsLattice,
  accountLatticeElement,
  accountLatticeInput,
  LATTICE_BYTES,
  LATTICE_LANES,
  latticeOfAccounts,
} from "./lattice.js";
import { jsLatticeKernel, type LatticeKernel, latticeKernels, withLatticeKernel } from "./lattice-kernel.js";

const key = (i: number) => sha256(utf8(`lattice account ${i}`));

/** The element as SIMD-0215 states it, read with a DataView. */
function referenceElement(pubkey: Uint8Array, lamports: bigint): number[] {
  const bytes = blake3(concatBytes(u64le(lamports), pubkey), { dkLen: 2048 });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: 1024 }, (_, i) => view.getUint16(2 * i, true));
}

describe("accounts lattice", () => {
  it("an element is 2048 bytes of blake3 over u64le(lamports) ‖ pubkey, as 1024 little-endian u16 lanes", () => {
    expect([LATTICE_BYTES, LATTICE_LANES]).toEqual([2048, 1024]);
    expect(accountLatticeInput(key(1), 258n)).toEqual(
      concatBytes(Uint8Array.of(2, 1, 0, 0, 0, 0, 0, 0), key(1)),
    );
    expect([...accountLatticeElement(key(1), 258n)]).toEqual(referenceElement(key(1), 258n));
    expect(() => accountLatticeInput(new Uint8Array(31), 1n)).toThrow(RangeError);
  });

  it("sums lanes modulo 2^16", () => {
    const full = AccountsLattice.fromBytes(new Uint8Array(LATTICE_BYTES).fill(0xff));
    full.add(key(2), 77n);
    const element = referenceElement(key(2), 77n);
    const bytes = full.toBytes();
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < LATTICE_LANES; i++)
      expect(view.getUint16(2 * i, true)).toBe((0xffff + element[i]!) % 65_536);
  });

  it("the accounts hash is blake3 of the lattice bytes; no accounts is the zero lattice", () => {
    const lattice = latticeOfAccounts([
      [key(1), 5n],
      [key(2), 6n],
    ]);
    expect(lattice.checksum()).toEqual(blake3(lattice.toBytes()));
    expect(AccountsLattice.empty().toBytes()).toEqual(new Uint8Array(LATTICE_BYTES));
    expect(AccountsLattice.fromBytes(lattice.toBytes()).equals(lattice)).toBe(true);
    expect(() => AccountsLattice.fromBytes(new Uint8Array(10))).toThrow(RangeError);
  });

  it("an account at 0 lamports contributes nothing", () => {
    const lattice = latticeOfAccounts([
      [key(1), 5n],
      [key(2), 0n],
    ]);
    expect(lattice.equals(latticeOfAccounts([[key(1), 5n]]))).toBe(true);
    lattice.update(key(1), 5n, 0n);
    expect(lattice.equals(AccountsLattice.empty())).toBe(true);
  });

  const accountsArb = fc.uniqueArray(fc.tuple(fc.nat(40), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
    selector: ([i]) => i,
    maxLength: 12,
  });

  it("does not depend on the order of the accounts", () => {
    fc.assert(
      fc.property(
        accountsArb.chain((accounts) =>
          fc.tuple(fc.constant(accounts), fc.shuffledSubarray(accounts, { minLength: accounts.length })),
        ),
        ([accounts, shuffled]) => {
          const a = latticeOfAccounts(accounts.map(([i, l]) => [key(i), l] as const));
          const b = latticeOfAccounts(shuffled.map(([i, l]) => [key(i), l] as const));
          expect(a.checksum()).toEqual(b.checksum());
        },
      ),
      { numRuns: 40 },
    );
  });

  it("updated incrementally equals computed from scratch", () => {
    fc.assert(
      fc.property(
        accountsArb,
        fc.array(fc.tuple(fc.nat(40), fc.bigInt({ min: 0n, max: 1n << 40n })), { maxLength: 20 }),
        (initial, updates) => {
          const state = new Map(initial);
          const lattice = latticeOfAccounts(initial.map(([i, l]) => [key(i), l] as const));
          for (const [i, after] of updates) {
            lattice.update(key(i), state.get(i) ?? 0n, after);
            state.set(i, after);
          }
          const scratch = latticeOfAccounts([...state].map(([i, l]) => [key(i), l] as const));
          expect(lattice.equals(scratch)).toBe(true);
          expect(lattice.checksum()).toEqual(scratch.checksum());
        },
      ),
      { numRuns: 40 },
    );
  });
});

/** The fastest kernel, counting the calls and inputs that reach it. */
function countingKernel(): LatticeKernel & { readonly batches: number[] } {
  const inner = latticeKernels()[0]!;
  const batches: number[] = [];
  return {
    implementation: inner.implementation,
    batches,
    elements: (inputs, out) => inner.elements(inputs, out),
    apply(lanes, inputs, negate) {
      batches.push(negate.length);
      inner.apply(lanes, inputs, negate);
    },
    hash32: (bytes) => inner.hash32(bytes),
  };
}

describe("accounts lattice batching", () => {
  const updatesArb = fc.array(fc.tuple(fc.nat(30), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), {
    maxLength: 40,
  });

  it("every kernel computes the same lattice and accounts hash as @noble", () => {
    const accounts = Array.from({ length: 50 }, (_, i) => [key(i), BigInt(i) * 1_000_003n] as const);
    const reference = withLatticeKernel(jsLatticeKernel, () => latticeOfAccounts(accounts));
    for (const kernel of latticeKernels()) {
      const lattice = withLatticeKernel(kernel, () => latticeOfAccounts(accounts));
      expect([kernel.implementation, toHex(lattice.toBytes())]).toEqual([
        kernel.implementation,
        toHex(reference.toBytes()),
      ]);
      expect(toHex(lattice.checksum())).toBe(toHex(reference.checksum()));
    }
  });

  it("a batch of updates equals the same updates applied one by one, on every kernel", () => {
    fc.assert(
      fc.property(updatesArb, (updates) => {
        const state = new Map<number, bigint>();
        const oneByOne = withLatticeKernel(jsLatticeKernel, () => AccountsLattice.empty());
        const batches = latticeKernels().map((kernel) =>
          withLatticeKernel(kernel, () => AccountsLattice.empty()),
        );
        for (const [i, after] of updates) {
          const before = state.get(i) ?? 0n;
          oneByOne.update(key(i), before, after);
          oneByOne.toBytes();
          for (const lattice of batches) lattice.update(key(i), before, after);
          state.set(i, after);
        }
        for (const lattice of batches) expect(toHex(lattice.toBytes())).toBe(toHex(oneByOne.toBytes()));
      }),
      { numRuns: 25 },
    );
  });

  it("queues changes and applies them in one kernel call when the lattice is read", () => {
    const kernel = countingKernel();
    const lattice = withLatticeKernel(kernel, () => AccountsLattice.empty());
    for (let i = 0; i < 100; i++) lattice.update(key(i), BigInt(i), BigInt(i + 1));
    lattice.update(key(0), 1n, 1n);
    expect(kernel.batches).toEqual([]);
    const copy = lattice.clone();
    expect(kernel.batches).toEqual([199]);
    expect(copy.equals(lattice)).toBe(true);
    copy.add(key(200), 5n);
    copy.checksum();
    expect(kernel.batches).toEqual([199, 1]);
  });

  it("applies at most 8,192 queued elements per call, so a queue's memory stays bounded", () => {
    const kernel = countingKernel();
    const accounts = Array.from({ length: 10_000 }, (_, i) => [key(i), 1n] as const);
    const lattice = withLatticeKernel(kernel, () => latticeOfAccounts(accounts));
    lattice.toBytes();
    expect(kernel.batches).toEqual([8_192, 1_808]);
  });

  it("a bad key or balance throws a RangeError and queues nothing", () => {
    const lattice = latticeOfAccounts([[key(1), 5n]]);
    const before = lattice.toBytes();
    expect(() => lattice.update(key(1), 5n, -1n)).toThrow(RangeError);
    expect(() => lattice.update(key(1), 5n, 1n << 64n)).toThrow(RangeError);
    expect(() => lattice.update(new Uint8Array(31), 5n, 6n)).toThrow(RangeError);
    expect(() => lattice.add(key(2), -3n)).toThrow(RangeError);
    expect(() => lattice.subtract(new Uint8Array(33), 3n)).toThrow(RangeError);
    expect(toHex(lattice.toBytes())).toBe(toHex(before));
  });

  it("a key changed after it was queued does not change the lattice", () => {
    const pubkey = Uint8Array.from(key(3));
    const lattice = AccountsLattice.empty();
    lattice.add(pubkey, 9n);
    pubkey.fill(0);
    expect(lattice.equals(latticeOfAccounts([[key(3), 9n]]))).toBe(true);
  });

  it("freezing a slot applies all its changed accounts in one kernel call, with the same BankHash", () => {
    const genesis = fixtureGenesis([1_000_000n, 1_000_000n, 10_000n]);
    const blockhash = genesisHash(genesis);
    const transfers = [0, 1, 2].map((i) =>
      transfer(user(i), user(10 + i).publicKey, 1_000n + BigInt(i), { blockhash }),
    );
    const freezeSlotOne = (kernel: LatticeKernel) => {
      const child = withLatticeKernel(kernel, () => createGenesisBank(genesis)).newChild(1);
      child.executeUserBlockSlot(1, [userBlock(0, 0, transfers)]);
      return child.freeze(pohHashOf(1));
    };
    const kernel = countingKernel();
    const counted = freezeSlotOne(kernel);
    // Genesis once; then slot 1: 3 payers (old and new state), 3 new receivers, no fee collector.
    expect(kernel.batches).toEqual([genesis.accounts.length, 9]);
    for (const other of latticeKernels()) expect(toHex(freezeSlotOne(other))).toBe(toHex(counted));
  });
});
