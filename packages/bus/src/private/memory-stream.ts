import { BusError } from "../errors.js";
import type { StreamLimits, StreamName } from "../streams.js";
import type { Headers, PublishAck, StartPosition } from "../types.js";
import { subjectMatches } from "./names.js";

/** One stored message. Sequences are contiguous: the stream only ever discards its oldest. */
export interface MemoryRecord {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  readonly time: number;
  readonly size: number;
}

export interface MemoryConsumerConfig {
  readonly filters: readonly string[];
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
  readonly maxDeliver: number;
}

interface PendingDelivery {
  deliveryCount: number;
  redeliverAt: number;
}

/** A binary min-heap of (time, seq) with lazy deletion: stale entries are skipped when popped. */
class DeadlineHeap {
  readonly #items: Array<{ at: number; seq: number }> = [];

  get size(): number {
    return this.#items.length;
  }

  push(at: number, seq: number): void {
    const items = this.#items;
    items.push({ at, seq });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  peek(): { at: number; seq: number } | undefined {
    return this.#items[0];
  }

  pop(): void {
    const items = this.#items;
    const last = items.pop();
    if (last === undefined || items.length === 0) return;
    items[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < items.length && this.#less(items[left]!, items[smallest]!)) smallest = left;
      if (right < items.length && this.#less(items[right]!, items[smallest]!)) smallest = right;
      if (smallest === i) break;
      [items[i], items[smallest]] = [items[smallest]!, items[i]!];
      i = smallest;
    }
  }

  clear(): void {
    this.#items.length = 0;
  }

  #less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
}

/** One-shot listeners: `notify()` calls each subscribed listener once and forgets it. */
export class Signal {
  readonly #listeners = new Set<() => void>();

  /** Returns the function that unsubscribes the listener. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  notify(): void {
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const listener of listeners) listener();
  }
}

export type NextDelivery =
  | { readonly record: MemoryRecord; readonly deliveryCount: number }
  | { readonly wakeAt: number | undefined };

/** The state a JetStream consumer keeps on the server, for the in-process bus. */
export class MemoryConsumerState {
  readonly name: string;
  readonly durable: boolean;
  config: MemoryConsumerConfig;
  deleted = false;
  readonly #stream: MemoryStream;
  #nextSeq: number;
  readonly #pending = new Map<number, PendingDelivery>();
  readonly #deadlines = new DeadlineHeap();
  readonly signal = new Signal();

  constructor(
    stream: MemoryStream,
    name: string,
    durable: boolean,
    config: MemoryConsumerConfig,
    startSeq: number,
  ) {
    this.#stream = stream;
    this.name = name;
    this.durable = durable;
    this.config = config;
    this.#nextSeq = startSeq;
  }

  /**
   * The next message to hand out, as JetStream picks it: due redeliveries first (oldest
   * deadline), then new messages while fewer than maxAckPending are unsettled.
   */
  next(now: number): NextDelivery {
    this.#stream.expire(now);
    for (let due = this.#deadlines.peek(); due !== undefined && due.at <= now; due = this.#deadlines.peek()) {
      this.#deadlines.pop();
      const pending = this.#pending.get(due.seq);
      if (pending === undefined || pending.redeliverAt !== due.at) continue;
      const record = this.#stream.get(due.seq);
      if (record === undefined) {
        this.#pending.delete(due.seq);
        continue;
      }
      if (this.config.maxDeliver > 0 && pending.deliveryCount >= this.config.maxDeliver) {
        this.#pending.delete(due.seq);
        continue;
      }
      pending.deliveryCount += 1;
      this.#schedule(due.seq, pending, now + this.config.ackWaitMs);
      return { record, deliveryCount: pending.deliveryCount };
    }
    if (this.#pending.size < this.config.maxAckPending) {
      this.#nextSeq = Math.max(this.#nextSeq, this.#stream.firstSeq);
      while (this.#nextSeq <= this.#stream.lastSeq) {
        const record = this.#stream.get(this.#nextSeq)!;
        this.#nextSeq += 1;
        if (this.#matches(record.subject)) {
          const pending = { deliveryCount: 1, redeliverAt: 0 };
          this.#pending.set(record.seq, pending);
          this.#schedule(record.seq, pending, now + this.config.ackWaitMs);
          return { record, deliveryCount: 1 };
        }
      }
    }
    return { wakeAt: this.#deadlines.peek()?.at };
  }

  ack(seq: number): void {
    if (this.#pending.delete(seq)) this.signal.notify();
  }

  term(seq: number): void {
    this.ack(seq);
  }

  nak(seq: number, delayMs: number, now: number): void {
    const pending = this.#pending.get(seq);
    if (pending === undefined) return;
    this.#schedule(seq, pending, now + delayMs);
    this.signal.notify();
  }

  #schedule(seq: number, pending: PendingDelivery, at: number): void {
    pending.redeliverAt = at;
    this.#deadlines.push(at, seq);
    // Settled deliveries leave stale heap entries; rebuild before they outweigh the live ones.
    if (this.#deadlines.size > 4 * this.#pending.size + 1024) {
      this.#deadlines.clear();
      for (const [pendingSeq, entry] of this.#pending) this.#deadlines.push(entry.redeliverAt, pendingSeq);
    }
  }

  #matches(subject: string): boolean {
    const filters = this.config.filters;
    return filters.length === 0 || filters.some((filter) => subjectMatches(filter, subject));
  }
}

/** A JetStream stream kept in memory: limits, duplicate window, last message per subject. */
export class MemoryStream {
  readonly name: StreamName;
  limits: StreamLimits;
  deleted = false;
  lastSeq = 0;
  readonly consumers = new Map<string, MemoryConsumerState>();
  readonly appended = new Signal();
  #records: MemoryRecord[] = [];
  #head = 0;
  #bytes = 0;
  readonly #lastBySubject = new Map<string, number>();
  readonly #dedup = new Map<string, { seq: number; at: number }>();

  constructor(name: StreamName, limits: StreamLimits) {
    this.name = name;
    this.limits = limits;
  }

  get firstSeq(): number {
    return this.#records[this.#head]?.seq ?? this.lastSeq + 1;
  }

  get(seq: number): MemoryRecord | undefined {
    const first = this.firstSeq;
    if (seq < first || seq > this.lastSeq) return undefined;
    return this.#records[this.#head + (seq - first)];
  }

  getLast(subject: string, now: number): MemoryRecord | undefined {
    this.expire(now);
    const seq = this.#lastBySubject.get(subject);
    return seq === undefined ? undefined : this.get(seq);
  }

  append(
    subject: string,
    data: Uint8Array,
    headers: Headers,
    msgId: string | undefined,
    now: number,
  ): PublishAck {
    if (this.deleted) throw new BusError("STREAM_NOT_FOUND", `stream ${this.name} was deleted`);
    this.expire(now);
    if (msgId !== undefined) {
      const seen = this.#dedup.get(msgId);
      if (seen !== undefined) return { stream: this.name, seq: seen.seq, duplicate: true };
    }
    const seq = this.lastSeq + 1;
    const size = subject.length + data.byteLength + headerBytes(headers);
    this.#records.push({ seq, subject, data: data.slice(), headers, time: now, size });
    this.lastSeq = seq;
    this.#bytes += size;
    this.#lastBySubject.set(subject, seq);
    if (msgId !== undefined) this.#dedup.set(msgId, { seq, at: now });
    this.#enforceSizeLimits();
    this.appended.notify();
    return { stream: this.name, seq, duplicate: false };
  }

  /** The sequence a consumer or replay starting at `start` begins at. */
  startSeq(start: StartPosition, now: number): number {
    this.expire(now);
    if (start === "all") return this.firstSeq;
    if (start === "new") return this.lastSeq + 1;
    if ("sequence" in start) return Math.max(start.sequence, this.firstSeq);
    const at = start.time.getTime();
    for (let seq = this.firstSeq; seq <= this.lastSeq; seq++) {
      if (this.get(seq)!.time >= at) return seq;
    }
    return this.lastSeq + 1;
  }

  /** Drops what is older than maxAge and ids older than the duplicate window. */
  expire(now: number): void {
    const { maxAgeMs, duplicateWindowMs } = this.limits;
    if (maxAgeMs > 0) {
      while (this.#head < this.#records.length && this.#records[this.#head]!.time <= now - maxAgeMs)
        this.#dropOldest();
    }
    for (const [msgId, seen] of this.#dedup) {
      if (seen.at > now - duplicateWindowMs) break;
      this.#dedup.delete(msgId);
    }
  }

  delete(): void {
    this.deleted = true;
    for (const consumer of this.consumers.values()) {
      consumer.deleted = true;
      consumer.signal.notify();
    }
    this.consumers.clear();
    this.appended.notify();
  }

  #enforceSizeLimits(): void {
    const { maxBytes, maxMessages } = this.limits;
    while (
      this.#head < this.#records.length &&
      ((maxBytes > 0 && this.#bytes > maxBytes) ||
        (maxMessages > 0 && this.#records.length - this.#head > maxMessages))
    ) {
      this.#dropOldest();
    }
  }

  #dropOldest(): void {
    const record = this.#records[this.#head]!;
    this.#head += 1;
    this.#bytes -= record.size;
    if (this.#lastBySubject.get(record.subject) === record.seq) this.#lastBySubject.delete(record.subject);
    if (this.#head > 1024 && this.#head * 2 > this.#records.length) {
      this.#records = this.#records.slice(this.#head);
      this.#head = 0;
    }
  }
}

function headerBytes(headers: Headers): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) bytes += name.length + value.length + 4;
  return bytes;
}
