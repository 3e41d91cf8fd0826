import type { MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node";
import { createInbox } from "@nats-io/transport-node";
import { BusError } from "../errors.js";
import type { StreamName } from "../streams.js";
import type { PublishAck } from "../types.js";

interface InFlight {
  readonly resolve: (ack: PublishAck) => void;
  readonly reject: (error: BusError) => void;
  readonly deadline: number;
}

interface Queued {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: MsgHdrs | undefined;
  readonly resolve: (ack: PublishAck) => void;
  readonly reject: (error: BusError) => void;
}

export interface JetStreamAck {
  readonly stream?: string;
  readonly seq?: number;
  readonly duplicate?: boolean;
  readonly error?: { readonly code?: number; readonly err_code?: number; readonly description?: string };
}

const decoder = new TextDecoder();
const ACK_PREFIX = '{"stream":"';
const DUPLICATE = /"duplicate"\s*:\s*true/;

/**
 * Reads JetStream's publish ack, `{"stream":"S", "seq":N}` (nats-server 2.9 writes it by hand,
 * spaces included) with optional fields (`duplicate`, `domain`), without JSON.parse: acks are
 * the hot path of publishing. Anything of another shape (errors) goes through JSON.parse.
 */
export function parseAck(data: Uint8Array): JetStreamAck {
  const text = (
    Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  ).toString("latin1");
  if (text.startsWith(ACK_PREFIX)) {
    const streamEnd = text.indexOf('"', ACK_PREFIX.length);
    const seqStart = streamEnd < 0 ? -1 : text.indexOf('"seq":', streamEnd);
    if (seqStart >= 0) {
      let i = seqStart + 6;
      while (text.charCodeAt(i) === 32) i++;
      const digitsStart = i;
      let seq = 0;
      for (let c = text.charCodeAt(i); c >= 48 && c <= 57; c = text.charCodeAt(++i))
        seq = seq * 10 + (c - 48);
      if (i > digitsStart && Number.isSafeInteger(seq) && !text.includes('"error"')) {
        return {
          stream: text.slice(ACK_PREFIX.length, streamEnd),
          seq,
          duplicate: text.includes('"duplicate"', i) && DUPLICATE.test(text.slice(i)),
        };
      }
    }
  }
  try {
    return JSON.parse(decoder.decode(data)) as JetStreamAck;
  } catch {
    return { error: { description: "the publish acknowledgement was not JSON" } };
  }
}

/**
 * Durable publishes without one round trip each. Every message goes out with its own reply
 * subject under one wildcard inbox subscription; JetStream's ack on that subject settles the
 * publish. Many publishes are in flight at once, in the order they were made (one connection
 * keeps order), and one timer sweeps the oldest for timeouts: in-flight entries are kept in
 * send order, and all share one timeout, so the expired ones are always at the front.
 */
export class PipelinedPublisher {
  readonly #nc: NatsConnection;
  readonly #inboxPrefix: string;
  readonly #subscription: Subscription;
  readonly #streamOf: (natsStream: string) => StreamName | undefined;
  readonly #timeoutMs: number;
  readonly #maxInFlight: number;
  readonly #inFlight = new Map<string, InFlight>();
  #queued: Array<Queued | undefined> = [];
  #queueHead = 0;
  #nextToken = 0;
  readonly #sweeper: NodeJS.Timeout;
  #idleWaiters: Array<() => void> = [];
  readonly #publishOptions: { reply: string; headers: MsgHdrs | undefined } = {
    reply: "",
    headers: undefined,
  };
  // Deadlines count from the last sweep (one clock read per sweep, not per publish) plus one
  // interval, so a publish times out between timeoutMs and timeoutMs plus two intervals.
  #clock = performance.now();
  readonly #sweepIntervalMs: number;

  constructor(
    nc: NatsConnection,
    streamOf: (natsStream: string) => StreamName | undefined,
    timeoutMs: number,
    maxInFlight: number,
  ) {
    this.#nc = nc;
    this.#streamOf = streamOf;
    this.#timeoutMs = timeoutMs;
    this.#maxInFlight = maxInFlight;
    this.#inboxPrefix = `${createInbox()}.`;
    this.#subscription = nc.subscribe(`${this.#inboxPrefix}*`, {
      callback: (error, msg) => {
        if (error === null) this.#settle(msg.subject.slice(this.#inboxPrefix.length), msg.data, msg.headers);
      },
    });
    this.#sweepIntervalMs = Math.max(10, Math.min(250, timeoutMs / 4));
    this.#sweeper = setInterval(() => this.#sweep(), this.#sweepIntervalMs);
    this.#sweeper.unref();
  }

  get inFlight(): number {
    return this.#inFlight.size + this.#queued.length - this.#queueHead;
  }

  publish(subject: string, data: Uint8Array, headers: MsgHdrs | undefined): Promise<PublishAck> {
    return new Promise<PublishAck>((resolve, reject) => {
      if (this.#inFlight.size < this.#maxInFlight && this.#queueHead === this.#queued.length) {
        this.#send(subject, data, headers, resolve, reject);
      } else {
        this.#queued.push({ subject, data, headers, resolve, reject });
      }
    });
  }

  /** Rejects everything in flight or queued: their acks can no longer be trusted to arrive. */
  failAll(error: BusError): void {
    const inFlight = [...this.#inFlight.values()];
    this.#inFlight.clear();
    const queued = this.#queued.slice(this.#queueHead);
    this.#queued = [];
    this.#queueHead = 0;
    for (const entry of inFlight) entry.reject(error);
    for (const entry of queued) entry?.reject(error);
    this.#wakeIfIdle();
  }

  /** Resolves when no publish is in flight or queued. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  close(): void {
    clearInterval(this.#sweeper);
    this.#subscription.unsubscribe();
  }

  #send(
    subject: string,
    data: Uint8Array,
    headers: MsgHdrs | undefined,
    resolve: (ack: PublishAck) => void,
    reject: (error: BusError) => void,
  ): void {
    const token = (this.#nextToken++).toString(36);
    // The client reads the options before publish() returns, so one object serves every call.
    const options = this.#publishOptions;
    options.reply = this.#inboxPrefix + token;
    options.headers = headers;
    try {
      this.#nc.publish(subject, data, options);
    } catch (error) {
      const code = this.#nc.isClosed() ? "CLOSED" : "DISCONNECTED";
      reject(
        new BusError(code, `publish to ${subject} failed: ${(error as Error).message}`, { cause: error }),
      );
      return;
    }
    this.#inFlight.set(token, {
      resolve,
      reject,
      deadline: this.#clock + this.#sweepIntervalMs + this.#timeoutMs,
    });
  }

  #settle(token: string, data: Uint8Array, headers: MsgHdrs | undefined): void {
    const entry = this.#inFlight.get(token);
    if (entry === undefined) return;
    this.#inFlight.delete(token);
    if (data.byteLength === 0 && headers?.code === 503) {
      entry.reject(
        new BusError("STREAM_NOT_FOUND", "no stream answered the publish (or JetStream is unavailable)"),
      );
    } else {
      const ack = parseAck(data);
      const stream = ack.stream === undefined ? undefined : this.#streamOf(ack.stream);
      if (ack.error !== undefined || stream === undefined || typeof ack.seq !== "number") {
        const code = ack.error?.code === 503 ? "STREAM_NOT_FOUND" : "REJECTED";
        entry.reject(
          new BusError(code, `JetStream refused the publish: ${ack.error?.description ?? "no stream"}`),
        );
      } else {
        entry.resolve({ stream, seq: ack.seq, duplicate: ack.duplicate === true });
      }
    }
    this.#sendQueued();
    this.#wakeIfIdle();
  }

  #sendQueued(): void {
    while (this.#queueHead < this.#queued.length && this.#inFlight.size < this.#maxInFlight) {
      const next = this.#queued[this.#queueHead]!;
      this.#queued[this.#queueHead] = undefined;
      this.#queueHead += 1;
      this.#send(next.subject, next.data, next.headers, next.resolve, next.reject);
    }
    if (this.#queueHead === this.#queued.length) {
      this.#queued = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queued.length) {
      this.#queued = this.#queued.slice(this.#queueHead);
      this.#queueHead = 0;
    }
  }

  #sweep(): void {
    const now = performance.now();
    this.#clock = now;
    let expired = false;
    for (const [token, entry] of this.#inFlight) {
      if (entry.deadline > now) break;
      this.#inFlight.delete(token);
      entry.reject(new BusError("TIMEOUT", `no JetStream ack within ${this.#timeoutMs} ms`));
      expired = true;
    }
    if (expired) {
      this.#sendQueued();
      this.#wakeIfIdle();
    }
  }

  #wakeIfIdle(): void {
    if (this.inFlight !== 0 || this.#idleWaiters.length === 0) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
