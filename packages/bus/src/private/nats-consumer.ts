import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import {
  createInbox,
  type Msg,
  type NatsConnection,
  nanos,
  type Subscription,
} from "@nats-io/transport-node";
import { BusError } from "../errors.js";
import type { StreamName } from "../streams.js";
import type { Consumer, DeliveredMessage, MessageHandler } from "../types.js";
import { fromNatsHeaders, plainBytes } from "./nats-convert.js";
import type { StatusTracker } from "./status.js";

// A pull request stays open this long; the server streams messages into it as they are stored.
const PULL_EXPIRES_MS = 10_000;
// The server sends a heartbeat into an idle pull request this often; two missed ones mean the
// request is gone (the server restarted under us, the consumer was deleted) and we pull again.
const PULL_HEARTBEAT_MS = 2_000;
const MAX_WINDOW = 512;
const DELIVERIES_PER_TURN = 64;
const RETRY_DELAY_MS = 1_000;

const ACK = new TextEncoder().encode("+ACK");
const NAK = new TextEncoder().encode("-NAK");
const TERM = new TextEncoder().encode("+TERM");

export interface PullTarget {
  readonly nc: NatsConnection;
  readonly status: StatusTracker;
  readonly natsStream: string;
  readonly stream: StreamName;
  readonly name: string;
  readonly durable: boolean;
  /** Characters to strip from a NATS subject to get the namespace-relative one. */
  readonly prefixLength: number;
  readonly maxAckPending: number;
  readonly deleteConsumer: () => Promise<void>;
}

/**
 * One consume() call on a JetStream pull consumer, speaking the pull protocol itself so flow
 * control follows the handler: at most `window` messages are requested or waiting here, and
 * more are requested when half of them are handled. The client library's consume() asks for
 * more as messages arrive instead, so a slow handler would let the local backlog grow to
 * maxAckPending and run past the ack wait (delivered twice). One pull request is open at a
 * time; each gets its own inbox subject, so a superseded request's status messages are ignored.
 */
export class NatsPullConsumer implements Consumer {
  readonly name: string;
  readonly #target: PullTarget;
  readonly #handler: MessageHandler;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #onStopped: () => void;
  readonly #window: number;
  readonly #inboxPrefix: string;
  readonly #subscription: Subscription;
  readonly #heartbeatCheck: NodeJS.Timeout;
  readonly #unsubscribeStatus: () => void;
  #queue: Msg[] = [];
  #queueHead = 0;
  #epoch = 0;
  /** Messages the open request may still deliver; 0 when no request is open. */
  #requested = 0;
  #lastActivity = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #processing: Promise<void> | undefined;
  #running = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;

  constructor(
    target: PullTarget,
    handler: MessageHandler,
    onError: ((error: Error) => void) | undefined,
    onStopped: () => void,
  ) {
    this.name = target.name;
    this.#target = target;
    this.#handler = handler;
    this.#onError = onError;
    this.#onStopped = onStopped;
    this.#window = Math.min(MAX_WINDOW, target.maxAckPending);
    this.#inboxPrefix = `${createInbox()}.`;
    this.#subscription = target.nc.subscribe(`${this.#inboxPrefix}*`, {
      callback: (error, msg) => {
        if (error === null) this.#onMessage(msg);
      },
    });
    this.#heartbeatCheck = setInterval(() => this.#checkHeartbeat(), PULL_HEARTBEAT_MS);
    this.#unsubscribeStatus = target.status.onStatus((status) => {
      // The open request died with the connection; pull again once JetStream answers.
      if (status !== "connected") this.#requested = 0;
      else this.#pull();
    });
    this.#pull();
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping = true;
      this.#unsubscribeStatus();
      clearInterval(this.#heartbeatCheck);
      if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
      // The server drops a pull request whose inbox lost interest, so nothing more arrives.
      this.#subscription.unsubscribe();
      await this.#processing;
      // Hand back what was pulled but not handled, so another consumer gets it at once.
      for (let msg = this.#shift(); msg !== undefined; msg = this.#shift()) this.#settle(msg, NAK);
      if (!this.#target.durable && this.#target.status.status === "connected") {
        await this.#target.deleteConsumer().catch(() => undefined);
      }
      this.#onStopped();
    })();
    return this.#stopped;
  }

  #pull(): void {
    if (this.#stopping || this.#requested > 0 || this.#target.status.status !== "connected") return;
    const batch = this.#window - this.#queued();
    if (batch < this.#window / 2) return;
    this.#epoch += 1;
    this.#requested = batch;
    this.#lastActivity = Date.now();
    try {
      this.#target.nc.publish(
        `$JS.API.CONSUMER.MSG.NEXT.${this.#target.natsStream}.${this.#target.name}`,
        JSON.stringify({ batch, expires: nanos(PULL_EXPIRES_MS), idle_heartbeat: nanos(PULL_HEARTBEAT_MS) }),
        { reply: this.#inboxPrefix + this.#epoch },
      );
    } catch (error) {
      this.#requested = 0;
      this.#report(new BusError("DISCONNECTED", `pull for consumer ${this.name} failed`, { cause: error }));
    }
  }

  #onMessage(msg: Msg): void {
    if (msg.reply) {
      // A delivery carries the stream's subject, not the request's, so it counts against the
      // open request even if a superseded one sent it; at worst we pull a little early.
      this.#lastActivity = Date.now();
      this.#queue.push(msg);
      if (this.#requested > 0) this.#requested -= 1;
      this.#kick();
      return;
    }
    // Status messages come on the request's own inbox subject: ignore a superseded request's.
    if (msg.subject !== this.#inboxPrefix + this.#epoch) return;
    this.#lastActivity = Date.now();
    const code = msg.headers?.code ?? 0;
    if (code === 100) return;
    // Anything else ends the open request: 408 it expired, 404 nothing to deliver, 409 a
    // limit or the consumer went away, 503 no such consumer.
    this.#requested = 0;
    if (code === 408 || code === 404) {
      this.#pull();
      return;
    }
    const description = msg.headers?.description ?? "";
    const gone = code === 503 || /consumer (deleted|not found)/i.test(description);
    this.#report(
      new BusError(
        gone ? "STREAM_NOT_FOUND" : "REJECTED",
        `consumer ${this.name}: ${code} ${description}`.trim(),
      ),
    );
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#pull();
    }, RETRY_DELAY_MS);
  }

  /** Starts handling the queue unless that is already going on. */
  #kick(): void {
    if (this.#running || this.#stopping) return;
    this.#running = true;
    this.#processing = this.#process();
  }

  async #process(): Promise<void> {
    let delivered = 0;
    while (!this.#stopping) {
      const msg = this.#shift();
      if (msg === undefined) break;
      // Only an async handler is awaited: sync handlers run back to back, so their acks queue
      // up in the client and leave in one socket write (the client flushes on a microtask).
      const handling = this.#deliver(msg);
      if (handling !== undefined) await handling;
      this.#pull();
      if (++delivered % DELIVERIES_PER_TURN === 0) await yieldToEventLoop();
    }
    this.#running = false;
  }

  #deliver(msg: Msg): Promise<void> | undefined {
    const info = parseAckSubject(msg.reply ?? "");
    if (info === undefined) {
      this.#report(new BusError("REJECTED", `consumer ${this.name}: a delivery without JetStream metadata`));
      return;
    }
    let settled = false;
    const settle = (payload: Uint8Array) => {
      if (settled) return;
      settled = true;
      this.#settle(msg, payload);
    };
    const message: DeliveredMessage = {
      stream: this.#target.stream,
      subject: msg.subject.slice(this.#target.prefixLength),
      data: plainBytes(msg.data),
      headers: fromNatsHeaders(msg.headers),
      seq: info.streamSequence,
      time: new Date(info.timestampMs),
      deliveryCount: info.deliveryCount,
      ack: () => settle(ACK),
      nak: (delayMs = 0) =>
        settle(delayMs > 0 ? new TextEncoder().encode(`-NAK {"delay":${nanos(delayMs)}}`) : NAK),
      term: () => settle(TERM),
    };
    const failed = (error: unknown) => {
      message.nak();
      this.#report(error instanceof Error ? error : new Error(String(error)));
    };
    try {
      const result = this.#handler(message);
      return result instanceof Promise ? result.catch(failed) : undefined;
    } catch (error) {
      failed(error);
      return undefined;
    }
  }

  #settle(msg: Msg, payload: Uint8Array): void {
    try {
      this.#target.nc.publish(msg.reply!, payload);
    } catch {
      // The connection is gone: the message stays unsettled and is delivered again.
    }
  }

  #checkHeartbeat(): void {
    if (this.#requested > 0 && Date.now() - this.#lastActivity > 2 * PULL_HEARTBEAT_MS + 500) {
      this.#requested = 0;
      this.#pull();
    }
  }

  #report(error: Error): void {
    if (this.#stopping) return;
    try {
      this.#onError?.(error);
    } catch {
      // The error callback's failure must not stop consuming.
    }
  }

  #queued(): number {
    return this.#queue.length - this.#queueHead;
  }

  #shift(): Msg | undefined {
    if (this.#queueHead >= this.#queue.length) {
      if (this.#queue.length > 0) {
        this.#queue = [];
        this.#queueHead = 0;
      }
      return undefined;
    }
    const msg = this.#queue[this.#queueHead]!;
    this.#queueHead += 1;
    if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    return msg;
  }
}

interface DeliveryInfo {
  readonly deliveryCount: number;
  readonly streamSequence: number;
  readonly timestampMs: number;
}

/**
 * Reads a JetStream ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ns>.<pending>`,
 * or the newer form with domain and account hash after `$JS.ACK` and a random token at the end.
 */
export function parseAckSubject(reply: string): DeliveryInfo | undefined {
  const tokens = reply.split(".");
  if (tokens[0] !== "$JS" || tokens[1] !== "ACK") return undefined;
  const offset = tokens.length === 9 ? 4 : tokens.length >= 11 ? 6 : -1;
  if (offset < 0) return undefined;
  const deliveryCount = Number(tokens[offset]);
  const streamSequence = Number(tokens[offset + 1]);
  const timestampMs = Math.floor(Number(tokens[offset + 3]) / 1e6);
  if (![deliveryCount, streamSequence, timestampMs].every(Number.isSafeInteger)) return undefined;
  return { deliveryCount, streamSequence, timestampMs };
}
