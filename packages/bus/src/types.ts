import type { StreamLimits, StreamName } from "./streams.js";

/**
 * String headers carried with a message both ways (W3C `traceparent` travels here). Names are
 * printable ASCII without `:` and must not start with `Nats-` (reserved by JetStream); values
 * are one line without leading or trailing white space.
 */
export type Headers = Readonly<Record<string, string>>;

export interface PublishOptions {
  /** Deduplicates: a second publish with the same id inside the duplicate window is not stored again. */
  readonly msgId?: string;
  readonly headers?: Headers;
}

/** The server's receipt for a durably stored message. */
export interface PublishAck {
  readonly stream: StreamName;
  readonly seq: number;
  /** True when `msgId` had already been stored: `seq` is then the first copy's. */
  readonly duplicate: boolean;
}

/** A message as a stream stores it. `subject` is relative to the namespace. */
export interface StoredMessage {
  readonly stream: StreamName;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
  readonly seq: number;
  readonly time: Date;
}

/**
 * A message delivered to a consumer. Settle it once: `ack()` (done), `nak(delayMs)` (deliver
 * again, after the delay), or `term()` (never deliver again). An unsettled message is delivered
 * again after the consumer's ack wait. Settling twice does nothing.
 */
export interface DeliveredMessage extends StoredMessage {
  /** 1 on the first delivery. */
  readonly deliveryCount: number;
  ack(): void;
  nak(delayMs?: number): void;
  term(): void;
}

/** Where a new consumer or a replay starts. */
export type StartPosition = "all" | "new" | { readonly sequence: number } | { readonly time: Date };

export interface ConsumeOptions {
  readonly stream: StreamName;
  /**
   * A durable consumer keeps its position on the server and resumes where it left off
   * (across restarts of the consumer, the process and the server). Several consumers with one
   * durable name share its messages. Without a name the consumer lives until `stop()`.
   */
  readonly durable?: string;
  /** Subjects (relative to the namespace, wildcards allowed) to deliver; all when omitted. */
  readonly filterSubjects?: readonly string[];
  /** Only used when the consumer is created; an existing durable keeps its position. */
  readonly start?: StartPosition;
  /** Delivered but unsettled messages are delivered again after this. Default 30 s. */
  readonly ackWaitMs?: number;
  /** At most this many delivered, unsettled messages at once. Default 1000. */
  readonly maxAckPending?: number;
  /** A message is delivered at most this many times; 0 (default) means no limit. */
  readonly maxDeliver?: number;
  /** Errors the handler threw (the message is then nak'ed) and errors of the consumer itself. */
  readonly onError?: (error: Error) => void;
}

/**
 * Handles one message at a time, in delivery order: the next message is delivered when the
 * returned promise settles. A handler that throws leaves its message nak'ed.
 */
export type MessageHandler = (message: DeliveredMessage) => void | Promise<void>;

export interface Consumer {
  /** The consumer's name on the server (the durable name, or a generated one). */
  readonly name: string;
  /** Stops pulling, waits for the handler in flight, and hands undelivered messages back. */
  stop(): Promise<void>;
}

export interface ReplayOptions {
  readonly stream: StreamName;
  readonly filterSubjects?: readonly string[];
  readonly start?: StartPosition;
  /** End after the last message stored when the replay began; otherwise follow the stream live. */
  readonly stopAtEnd?: boolean;
}

/** An ordered read of a stream, with no acks and nothing kept on the server afterwards. */
export interface Replay extends AsyncIterable<StoredMessage> {
  /** Ends the iteration (a pending `next()` resolves as done). */
  stop(): void;
}

export interface RequestOptions {
  readonly timeoutMs: number;
  readonly headers?: Headers;
}

export interface Reply {
  readonly data: Uint8Array;
  readonly headers: Headers;
}

export interface IncomingRequest {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: Headers;
}

/** Answers a request; a thrown error reaches the requester as a `HANDLER_ERROR`. */
export type RequestHandler = (request: IncomingRequest) => Uint8Array | Reply | Promise<Uint8Array | Reply>;

export interface ServeOptions {
  /**
   * Servers with the same queue share requests (each request goes to one of them). Default
   * `"default"`, so replicas of one service load-balance.
   */
  readonly queue?: string;
}

export interface Service {
  /** Stops taking requests and waits for the ones in flight to be answered. */
  stop(): Promise<void>;
}

/** `connected` is the only state in which the bus is ready. */
export type BusStatus = "connected" | "disconnected" | "reconnecting" | "closed";

/** Per-stream overrides of the default retention (see `STREAMS`). */
export type StreamLimitOverrides = Partial<Record<StreamName, Partial<StreamLimits>>>;

/**
 * The bus the roles share. Subjects are relative to the namespace chosen when the bus was
 * opened; stream subjects start with the stream's token (`ledger.…`, `votes.…`, …), and
 * request/reply subjects must not.
 */
export interface Bus {
  readonly adapter: "nats" | "memory";
  readonly namespace: string;
  /** The largest payload (bytes) one message may carry. */
  readonly maxPayload: number;
  /** True while connected and JetStream answers. */
  readonly ready: boolean;
  readonly status: BusStatus;
  /** Calls `listener` on every status change; returns the function that removes it. */
  onStatus(listener: (status: BusStatus) => void): () => void;

  /** Creates or updates the shared streams (done when the bus opens). */
  ensureStreams(): Promise<void>;
  /** Deletes the namespace's streams and everything in them. */
  deleteStreams(): Promise<void>;

  /** Resolves once the message is durably stored; publishes from one bus keep their order. */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<PublishAck>;
  consume(options: ConsumeOptions, handler: MessageHandler): Promise<Consumer>;
  replay(options: ReplayOptions): Replay;
  /** The last message stored on exactly this subject, or undefined. */
  getLast(stream: StreamName, subject: string): Promise<StoredMessage | undefined>;

  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Reply>;
  serve(subject: string, handler: RequestHandler, options?: ServeOptions): Promise<Service>;

  /**
   * Drains: stops taking new work, stops consumers and services gracefully, waits for
   * publishes in flight, then closes. Every later call fails with `CLOSED`.
   */
  close(): Promise<void>;
}
