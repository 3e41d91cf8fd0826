import { StoreError } from "../errors.js";
import type { IndexEntry, IndexTrim, StoreStatus } from "../store.js";
import type { Backend, RawMember, RawOp, RawOpOf, RawOutcome } from "./backend.js";
import { MinHeap } from "./min-heap.js";
import { SortedIndex } from "./sorted-index.js";
import { StatusCell } from "./status.js";

// The in-process store models Redis's own types (strings, hashes, sorted sets) and their
// rules — which write keeps or clears an expiry, that emptied collections vanish, that a key
// of one type rejects another type's commands — so code that runs on it runs the same on Redis.
// It keeps the bytes codecs produce without copying them (a codec's output is never changed
// afterwards, see Codec) and copies the bytes it hands out, which decoders may keep and alter.

type Entry =
  | { readonly type: "string"; value: Uint8Array; expiresAt: number | undefined }
  | { readonly type: "hash"; readonly fields: Map<string, Uint8Array>; expiresAt: number | undefined }
  | { readonly type: "zset"; readonly index: SortedIndex; expiresAt: number | undefined };

const wrongType = (): StoreError =>
  new StoreError("COMMAND", "WRONGTYPE Operation against a key holding the wrong kind of value");

const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;
const redisInteger = /^(0|-?[1-9][0-9]{0,19})$/;
const latin1 = new TextDecoder("latin1");
const ascii = new TextEncoder();
const leaseSeparator = 0x7c; // "|": a lease is stored as `<expiresAtMs>|<data>`, as the Redis adapter stores it.

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

function encodeLease(expiresAt: number, data: Uint8Array): Uint8Array {
  const prefix = ascii.encode(`${expiresAt}|`);
  const lease = new Uint8Array(prefix.byteLength + data.byteLength);
  lease.set(prefix);
  lease.set(data, prefix.byteLength);
  return lease;
}

function decodeLease(lease: Uint8Array): { expiresAt: number; data: Uint8Array } {
  const separator = lease.indexOf(leaseSeparator);
  const expiresAt = separator > 0 ? Number(latin1.decode(lease.subarray(0, separator))) : Number.NaN;
  // The Redis scripts fail the same way on a hash that does not hold leases.
  if (!Number.isSafeInteger(expiresAt))
    throw new StoreError("COMMAND", "ERR the hash does not hold membership leases");
  return { expiresAt, data: lease.subarray(separator + 1) };
}

/** The data of an in-process store, shared by every store handle created over it. */
export class MemoryData {
  readonly now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #expiries = new MinHeap<string>();

  constructor(now: () => number) {
    this.now = now;
  }

  get size(): number {
    this.sweep();
    return this.#entries.size;
  }

  /** Drops every key whose expiry has passed, so keys written once and never read do not pile up. */
  sweep(): void {
    const now = this.now();
    for (
      let at = this.#expiries.peekPriority();
      at !== undefined && at <= now;
      at = this.#expiries.peekPriority()
    ) {
      const key = this.#expiries.pop() as string;
      const entry = this.#entries.get(key);
      if (entry?.expiresAt !== undefined && entry.expiresAt <= now) this.#entries.delete(key);
    }
  }

  run(op: RawOp): unknown {
    switch (op.kind) {
      case "get":
        return this.#string(op.key)?.value.slice();
      case "set":
        return this.#set(op);
      case "compareAndSet":
        return this.#compareAndSet(op);
      case "delete":
        return this.#entry(op.key) !== undefined && this.#entries.delete(op.key);
      case "expire": {
        const entry = this.#entry(op.key);
        if (!entry) return false;
        this.#expireAfter(op.key, entry, op.ttlMs);
        return true;
      }
      case "timeToLive": {
        const entry = this.#entry(op.key);
        if (!entry) return undefined;
        return entry.expiresAt === undefined ? Number.POSITIVE_INFINITY : entry.expiresAt - this.now();
      }
      case "increment":
        return this.#increment(op);
      case "hashGetAll":
        return new Map(
          [...(this.#hash(op.key)?.fields ?? [])].map(([field, value]) => [field, value.slice()]),
        );
      case "hashSet":
        return this.#hashSet(op);
      case "indexAdd": {
        const entry =
          this.#zset(op.key) ??
          this.#create(op.key, { type: "zset", index: new SortedIndex(), expiresAt: undefined });
        const added = entry.index.add(op.member, op.score);
        if (op.ttlMs !== undefined) this.#expireAfter(op.key, entry, op.ttlMs);
        return added;
      }
      case "indexRemove": {
        const entry = this.#zset(op.key);
        const removed = entry?.index.remove(op.member) ?? false;
        this.#dropIfEmpty(op.key);
        return removed;
      }
      case "indexRange":
        return (
          this.#zset(op.key)?.index.range(op.min, op.max, op.order, op.offset, op.limit) ??
          ([] as IndexEntry[])
        );
      case "indexScore":
        return this.#zset(op.key)?.index.score(op.member);
      case "indexSize":
        return this.#zset(op.key)?.index.size ?? 0;
      case "indexTrim":
        return this.#indexTrim(op.key, op.trim);
      case "join":
        return this.#join(op);
      case "renew":
        return this.#renew(op);
      case "leave":
        return this.#leave(op);
      case "members":
        return this.#members(op.key);
    }
  }

  clear(prefix: string): number {
    let deleted = 0;
    for (const key of [...this.#entries.keys()]) {
      if (key.startsWith(prefix) && this.#entry(key)) {
        this.#entries.delete(key);
        deleted++;
      }
    }
    return deleted;
  }

  #entry(key: string): Entry | undefined {
    const entry = this.#entries.get(key);
    if (entry?.expiresAt !== undefined && entry.expiresAt <= this.now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return entry;
  }

  #string(key: string): Extract<Entry, { type: "string" }> | undefined {
    const entry = this.#entry(key);
    if (entry && entry.type !== "string") throw wrongType();
    return entry;
  }

  #hash(key: string): Extract<Entry, { type: "hash" }> | undefined {
    const entry = this.#entry(key);
    if (entry && entry.type !== "hash") throw wrongType();
    return entry;
  }

  #zset(key: string): Extract<Entry, { type: "zset" }> | undefined {
    const entry = this.#entry(key);
    if (entry && entry.type !== "zset") throw wrongType();
    return entry;
  }

  #create<E extends Entry>(key: string, entry: E): E {
    this.#entries.set(key, entry);
    return entry;
  }

  #expireAfter(key: string, entry: Entry, ttlMs: number): void {
    entry.expiresAt = this.now() + ttlMs;
    this.#expiries.push(entry.expiresAt, key);
  }

  #dropIfEmpty(key: string): void {
    const entry = this.#entries.get(key);
    if (
      (entry?.type === "hash" && entry.fields.size === 0) ||
      (entry?.type === "zset" && entry.index.size === 0)
    ) {
      this.#entries.delete(key);
    }
  }

  #set(op: RawOpOf<"set">): boolean {
    if (op.ifAbsent && this.#entry(op.key)) return false;
    const entry = this.#create(op.key, { type: "string", value: op.value, expiresAt: undefined });
    if (op.ttlMs !== undefined) this.#expireAfter(op.key, entry, op.ttlMs);
    return true;
  }

  #compareAndSet(op: RawOpOf<"compareAndSet">): boolean {
    const current = this.#string(op.key);
    if (
      op.expected === undefined ? current !== undefined : !current || !sameBytes(current.value, op.expected)
    ) {
      return false;
    }
    const entry = this.#create(op.key, {
      type: "string",
      value: op.value,
      expiresAt: current?.expiresAt,
    });
    if (op.ttlMs !== undefined) this.#expireAfter(op.key, entry, op.ttlMs);
    return true;
  }

  #increment(op: RawOpOf<"increment">): number {
    const current = this.#string(op.key);
    let value = 0n;
    if (current) {
      const text = latin1.decode(current.value);
      if (!redisInteger.test(text) || BigInt(text) < int64Min || BigInt(text) > int64Max) {
        throw new StoreError("COMMAND", "ERR value is not an integer or out of range");
      }
      value = BigInt(text);
    }
    const next = value + BigInt(op.by);
    if (next < int64Min || next > int64Max)
      throw new StoreError("COMMAND", "ERR increment or decrement would overflow");
    const entry = this.#create(op.key, {
      type: "string",
      value: ascii.encode(next.toString()),
      expiresAt: current?.expiresAt,
    });
    if (op.ttlMs !== undefined) this.#expireAfter(op.key, entry, op.ttlMs);
    return Number(next);
  }

  #hashSet(op: RawOpOf<"hashSet">): string[] {
    const entry = this.#hash(op.key) ?? {
      type: "hash",
      fields: new Map<string, Uint8Array>(),
      expiresAt: undefined,
    };
    const written: string[] = [];
    for (const [field, value] of op.fields) {
      if (op.ifAbsent && entry.fields.has(field)) continue;
      entry.fields.set(field, value);
      written.push(field);
    }
    if (entry.fields.size === 0) return written;
    this.#entries.set(op.key, entry);
    if (op.ttlMs !== undefined) this.#expireAfter(op.key, entry, op.ttlMs);
    return written;
  }

  #indexTrim(key: string, trim: IndexTrim): number {
    const entry = this.#zset(key);
    if (!entry) return 0;
    const removed =
      "belowScore" in trim
        ? entry.index.removeBelow(trim.belowScore)
        : entry.index.keepHighest(trim.keepHighest);
    this.#dropIfEmpty(key);
    return removed;
  }

  /** The lease of a live member (an expired one is removed on the way). */
  #lease(key: string, id: string): { expiresAt: number; data: Uint8Array } | undefined {
    const entry = this.#hash(key);
    const stored = entry?.fields.get(id);
    if (!entry || !stored) return undefined;
    const lease = decodeLease(stored);
    if (lease.expiresAt > this.now()) return lease;
    entry.fields.delete(id);
    this.#dropIfEmpty(key);
    return undefined;
  }

  #grantLease(key: string, id: string, data: Uint8Array, ttlMs: number): void {
    const now = this.now();
    const entry =
      this.#hash(key) ?? this.#create(key, { type: "hash", fields: new Map(), expiresAt: undefined });
    entry.fields.set(id, encodeLease(now + ttlMs, data));
    // The membership lives as long as its longest lease.
    const remaining = entry.expiresAt === undefined ? -1 : entry.expiresAt - now;
    if (remaining < ttlMs) this.#expireAfter(key, entry, ttlMs);
  }

  #join(op: RawOpOf<"join">): boolean {
    if (op.exclusive) {
      const held = this.#lease(op.key, op.id);
      if (held && !sameBytes(held.data, op.data)) return false;
    }
    this.#grantLease(op.key, op.id, op.data, op.ttlMs);
    return true;
  }

  #renew(op: RawOpOf<"renew">): boolean {
    const held = this.#lease(op.key, op.id);
    if (!held || !sameBytes(held.data, op.data)) return false;
    this.#grantLease(op.key, op.id, op.data, op.ttlMs);
    return true;
  }

  #leave(op: RawOpOf<"leave">): boolean {
    const held = this.#lease(op.key, op.id);
    if (!held || (op.data !== undefined && !sameBytes(held.data, op.data))) return false;
    this.#hash(op.key)?.fields.delete(op.id);
    this.#dropIfEmpty(op.key);
    return true;
  }

  #members(key: string): RawMember[] {
    const entry = this.#hash(key);
    if (!entry) return [];
    const now = this.now();
    const members: RawMember[] = [];
    for (const [id, stored] of entry.fields) {
      const lease = decodeLease(stored);
      if (lease.expiresAt > now) members.push({ id, data: lease.data.slice(), expiresAtMs: lease.expiresAt });
      else entry.fields.delete(id);
    }
    this.#dropIfEmpty(key);
    return members;
  }
}

/** One store handle over shared in-process data: its own status and close, like a connection. */
export class MemoryBackend implements Backend {
  readonly #data: MemoryData;
  readonly #status = new StatusCell("connected");

  constructor(data: MemoryData) {
    this.#data = data;
  }

  get status(): StoreStatus {
    return this.#status.status;
  }

  onStatusChange(listener: (status: StoreStatus) => void): () => void {
    return this.#status.listen(listener);
  }

  execute(ops: readonly RawOp[]): Promise<RawOutcome[]> {
    if (this.#status.status === "closed") {
      const error = new StoreError("CLOSED", "the store is closed");
      return Promise.resolve(ops.map(() => ({ ok: false, error })));
    }
    this.#data.sweep();
    return Promise.resolve(
      ops.map((op): RawOutcome => {
        try {
          return { ok: true, value: this.#data.run(op) };
        } catch (error) {
          if (error instanceof StoreError) return { ok: false, error };
          throw error;
        }
      }),
    );
  }

  clear(prefix: string): Promise<number> {
    if (this.#status.status === "closed")
      return Promise.reject(new StoreError("CLOSED", "the store is closed"));
    return Promise.resolve(this.#data.clear(prefix));
  }

  close(): Promise<void> {
    this.#status.set("closed");
    return Promise.resolve();
  }
}
