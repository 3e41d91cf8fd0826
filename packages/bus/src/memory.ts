import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { BusError } from "./errors.js";
import { resolveLimits } from "./private/limits.js";
import { MemoryConsumerState, type MemoryRecord, MemoryStream } from "./private/memory-stream.js";
import {
  checkConsumerName,
  checkCount,
  checkFilterSubjects,
  checkHeaders,
  checkLiteralSubject,
  checkMsgId,
  checkNamespace,
  checkPayload,
  checkPublishSubject,
  checkServiceSubject,
  checkStart,
  checkStreamName,
  checkSubjectInStream,
  HEADER_ALLOWANCE,
  subjectMatches,
} from "./private/names.js";
import { answer, ERROR_HEADER, freezeHeaders } from "./private/reply.js";
import { StatusTracker } from "./private/status.js";
import { STREAM_NAMES, type StreamLimits, type StreamName } from "./streams.js";
import type {
  Bus,
  BusStatus,
  ConsumeOptions,
  Consumer,
  DeliveredMessage,
  IncomingRequest,
  MessageHandler,
  PublishAck,
  PublishOptions,
  Replay,
  ReplayOptions,
  Reply,
  RequestHandler,
  RequestOptions,
  ServeOptions,
  Service,
  StoredMessage,
  StreamLimitOverrides,
} from "./types.js";

/** As on a NATS server with the default max_payload (1 MiB), so what one bus takes the other does. */
const DEFAULT_MAX_PAYLOAD = 1024 * 1024 - HEADER_ALLOWANCE;
const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_MAX_ACK_PENDING = 1000;
// Deliveries in a row before the consumer loop lets timers and I/O run.
const DELIVERIES_PER_TURN = 64;

interface ServiceEntry {
  readonly namespace: string;
  readonly pattern: string;
  readonly queue: string;
  readonly handler: RequestHandler;
}

/**
 * The in-process stand-in for a NATS server: buses created on the same server share streams,
 * durable consumers and request/reply subjects, as processes sharing one NATS server do.
 */
export interface MemoryBusServer {
  readonly adapter: "memory";
}

class MemoryServer implements MemoryBusServer {
  readonly adapter = "memory" as const;
  readonly streams = new Map<string, MemoryStream>();
  readonly services: ServiceEntry[] = [];
  #roundRobin = 0;

  stream(namespace: string, name: StreamName): MemoryStream | undefined {
    return this.streams.get(`${namespace}/${name}`);
  }

  ensureStream(namespace: string, name: StreamName, limits: StreamLimits): void {
    const existing = this.stream(namespace, name);
    if (existing === undefined) this.streams.set(`${namespace}/${name}`, new MemoryStream(name, limits));
    else existing.limits = limits;
  }

  deleteStream(namespace: string, name: StreamName): void {
    this.stream(namespace, name)?.delete();
    this.streams.delete(`${namespace}/${name}`);
  }

  /** One server per queue group gets the request, as NATS queue subscriptions do. */
  route(namespace: string, subject: string): ServiceEntry[] {
    const byQueue = new Map<string, ServiceEntry[]>();
    for (const entry of this.services) {
      if (entry.namespace !== namespace || !subjectMatches(entry.pattern, subject)) continue;
      const group = byQueue.get(entry.queue);
      if (group === undefined) byQueue.set(entry.queue, [entry]);
      else group.push(entry);
    }
    this.#roundRobin += 1;
    return [...byQueue.values()].map((group) => group[this.#roundRobin % group.length]!);
  }
}

export function createMemoryBusServer(): MemoryBusServer {
  return new MemoryServer();
}

export interface MemoryBusOptions {
  readonly namespace: string;
  /** Share streams with other buses on this server; a private server when omitted. */
  readonly server?: MemoryBusServer;
  readonly streams?: StreamLimitOverrides;
  readonly maxPayload?: number;
}

/** The in-process bus: the NATS adapter's semantics, for the embedded devnet and tests. */
export function createMemoryBus(options: MemoryBusOptions): Bus {
  const server = options.server ?? new MemoryServer();
  if (!(server instanceof MemoryServer)) {
    throw new BusError("INVALID_ARGUMENT", "server must come from createMemoryBusServer()");
  }
  return new MemoryBus(server, options);
}

class MemoryBus implements Bus {
  readonly adapter = "memory" as const;
  readonly namespace: string;
  readonly maxPayload: number;
  readonly #server: MemoryServer;
  readonly #limits: Record<StreamName, StreamLimits>;
  readonly #status = new StatusTracker("connected");
  readonly #consumers = new Set<MemoryConsumer>();
  readonly #replays = new Set<MemoryReplay>();
  readonly #services = new Set<MemoryService>();
  #closing: Promise<void> | undefined;
  #consumerCounter = 0;

  constructor(server: MemoryServer, options: MemoryBusOptions) {
    this.#server = server;
    this.namespace = checkNamespace(options.namespace);
    this.maxPayload = checkCount("maxPayload", options.maxPayload, DEFAULT_MAX_PAYLOAD, 1);
    this.#limits = resolveLimits(options.streams);
    this.#ensure();
  }

  get ready(): boolean {
    return this.#status.status === "connected" && this.#closing === undefined;
  }

  get status(): BusStatus {
    return this.#status.status;
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    return this.#status.onStatus(listener);
  }

  async ensureStreams(): Promise<void> {
    this.#checkOpen();
    this.#ensure();
  }

  async deleteStreams(): Promise<void> {
    this.#checkOpen();
    for (const name of STREAM_NAMES) this.#server.deleteStream(this.namespace, name);
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<PublishAck> {
    this.#checkOpen();
    const streamName = checkPublishSubject(subject);
    checkPayload(data, this.maxPayload);
    checkMsgId(options.msgId);
    const headers = checkHeaders(options.headers);
    const stream = this.#stream(streamName);
    return stream.append(subject, data, freezeHeaders(headers), options.msgId, Date.now());
  }

  async consume(options: ConsumeOptions, handler: MessageHandler): Promise<Consumer> {
    this.#checkOpen();
    const streamName = checkStreamName(options.stream);
    const filters = checkFilterSubjects(streamName, options.filterSubjects);
    const start = checkStart(options.start);
    const config = {
      filters,
      ackWaitMs: checkCount("ackWaitMs", options.ackWaitMs, DEFAULT_ACK_WAIT_MS, 1),
      maxAckPending: checkCount("maxAckPending", options.maxAckPending, DEFAULT_MAX_ACK_PENDING, 1),
      maxDeliver: checkCount("maxDeliver", options.maxDeliver, 0),
    };
    if (typeof handler !== "function") throw new BusError("INVALID_ARGUMENT", "handler must be a function");
    const stream = this.#stream(streamName);
    const durable = options.durable !== undefined;
    const name = durable ? checkConsumerName(options.durable!) : `ephemeral_${++this.#consumerCounter}`;
    let state = durable ? stream.consumers.get(name) : undefined;
    if (state === undefined) {
      state = new MemoryConsumerState(stream, name, durable, config, stream.startSeq(start, Date.now()));
      if (durable) stream.consumers.set(name, state);
    } else {
      state.config = config;
    }
    const consumer = new MemoryConsumer(stream, state, handler, options.onError, () =>
      this.#consumers.delete(consumer),
    );
    this.#consumers.add(consumer);
    return consumer;
  }

  replay(options: ReplayOptions): Replay {
    const replay = new MemoryReplay(
      () => {
        this.#checkOpen();
        const streamName = checkStreamName(options.stream);
        const filters = checkFilterSubjects(streamName, options.filterSubjects);
        const start = checkStart(options.start);
        return { stream: this.#stream(streamName), filters, start, stopAtEnd: options.stopAtEnd === true };
      },
      () => this.#replays.delete(replay),
    );
    this.#replays.add(replay);
    return replay;
  }

  async getLast(stream: StreamName, subject: string): Promise<StoredMessage | undefined> {
    this.#checkOpen();
    const streamName = checkStreamName(stream);
    checkSubjectInStream(streamName, subject);
    const record = this.#stream(streamName).getLast(subject, Date.now());
    return record === undefined ? undefined : storedMessage(streamName, record);
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Reply> {
    this.#checkOpen();
    checkServiceSubject(subject, false);
    checkPayload(data, this.maxPayload);
    const headers = freezeHeaders(checkHeaders(options?.headers));
    const timeoutMs = checkCount("timeoutMs", options?.timeoutMs, 0, 1);
    const targets = this.#server.route(this.namespace, subject);
    if (targets.length === 0) throw new BusError("NO_RESPONDERS", `no service answers ${subject}`);
    const request: IncomingRequest = { subject, data: data.slice(), headers };
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new BusError("TIMEOUT", `no reply to ${subject} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      for (const target of targets) {
        answer(target.handler, request).then(
          (reply) => {
            clearTimeout(timer);
            const error = reply.headers[ERROR_HEADER];
            if (error !== undefined) reject(new BusError("HANDLER_ERROR", error));
            else resolve({ data: reply.data.slice(), headers: reply.headers });
          },
          () => undefined,
        );
      }
    });
  }

  async serve(subject: string, handler: RequestHandler, options: ServeOptions = {}): Promise<Service> {
    this.#checkOpen();
    checkServiceSubject(subject, true);
    if (typeof handler !== "function") throw new BusError("INVALID_ARGUMENT", "handler must be a function");
    const queue = options.queue ?? "default";
    checkLiteralSubject(queue);
    const service = new MemoryService(this.#server, this.namespace, subject, queue, handler, () =>
      this.#services.delete(service),
    );
    this.#services.add(service);
    return service;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const replay of this.#replays) replay.stop();
      await Promise.all([...this.#consumers].map((consumer) => consumer.stop()));
      await Promise.all([...this.#services].map((service) => service.stop()));
      this.#status.set("closed");
    })();
    return this.#closing;
  }

  #ensure(): void {
    for (const name of STREAM_NAMES) this.#server.ensureStream(this.namespace, name, this.#limits[name]);
  }

  #stream(name: StreamName): MemoryStream {
    const stream = this.#server.stream(this.namespace, name);
    if (stream === undefined) throw new BusError("STREAM_NOT_FOUND", `stream ${name} does not exist`);
    return stream;
  }

  #checkOpen(): void {
    if (this.#closing !== undefined) throw new BusError("CLOSED", "the bus is closed");
  }
}

/** Runs one consume() call: one handler at a time, in delivery order. */
class MemoryConsumer implements Consumer {
  readonly name: string;
  readonly #stream: MemoryStream;
  readonly #state: MemoryConsumerState;
  readonly #handler: MessageHandler;
  readonly #onError: ((error: Error) => void) | undefined;
  readonly #onStopped: () => void;
  readonly #loop: Promise<void>;
  #stopping = false;
  #wake: (() => void) | undefined;

  constructor(
    stream: MemoryStream,
    state: MemoryConsumerState,
    handler: MessageHandler,
    onError: ((error: Error) => void) | undefined,
    onStopped: () => void,
  ) {
    this.name = state.name;
    this.#stream = stream;
    this.#state = state;
    this.#handler = handler;
    this.#onError = onError;
    this.#onStopped = onStopped;
    this.#loop = this.#run();
  }

  stop(): Promise<void> {
    this.#stopping = true;
    this.#wake?.();
    return this.#loop;
  }

  async #run(): Promise<void> {
    // Deliveries start after consume() has returned, as they do from a server.
    await yieldToEventLoop();
    let delivered = 0;
    let reportedDeletion = false;
    while (!this.#stopping) {
      if (this.#state.deleted) {
        if (!reportedDeletion)
          this.#onError?.(new BusError("STREAM_NOT_FOUND", `stream ${this.#stream.name} was deleted`));
        reportedDeletion = true;
        await this.#sleep(undefined);
        continue;
      }
      const now = Date.now();
      const next = this.#state.next(now);
      if ("record" in next) {
        await this.#deliver(next.record, next.deliveryCount);
        if (++delivered % DELIVERIES_PER_TURN === 0) await yieldToEventLoop();
        continue;
      }
      await this.#sleep(next.wakeAt === undefined ? undefined : next.wakeAt - now);
    }
    if (!this.#state.durable) this.#state.deleted = true;
    this.#onStopped();
  }

  async #deliver(record: MemoryRecord, deliveryCount: number): Promise<void> {
    const state = this.#state;
    const seq = record.seq;
    let settled = false;
    const settle = (): boolean => {
      if (settled || state.deleted) return false;
      settled = true;
      return true;
    };
    const message: DeliveredMessage = {
      ...storedMessage(this.#stream.name, record),
      deliveryCount,
      ack: () => {
        if (settle()) state.ack(seq);
      },
      nak: (delayMs = 0) => {
        if (settle()) state.nak(seq, Math.max(0, delayMs), Date.now());
      },
      term: () => {
        if (settle()) state.term(seq);
      },
    };
    try {
      await this.#handler(message);
    } catch (error) {
      message.nak();
      this.#onError?.(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Sleeps until woken by the stream or the consumer state, a deadline, or stop(). */
  #sleep(ms: number | undefined): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const wake = () => {
        if (timer !== undefined) clearTimeout(timer);
        offAppended();
        offSignal();
        if (this.#wake === wake) this.#wake = undefined;
        resolve();
      };
      const offAppended = this.#stream.appended.subscribe(wake);
      const offSignal = this.#state.signal.subscribe(wake);
      if (ms !== undefined) timer = setTimeout(wake, Math.max(0, ms));
      this.#wake = wake;
    });
  }
}

interface ReplayPlan {
  readonly stream: MemoryStream;
  readonly filters: readonly string[];
  readonly start: ReturnType<typeof checkStart>;
  readonly stopAtEnd: boolean;
}

class MemoryReplay implements Replay {
  readonly #plan: () => ReplayPlan;
  readonly #onDone: () => void;
  #stopped = false;
  #wake: (() => void) | undefined;

  constructor(plan: () => ReplayPlan, onDone: () => void) {
    this.#plan = plan;
    this.#onDone = onDone;
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StoredMessage> {
    try {
      const { stream, filters, start, stopAtEnd } = this.#plan();
      let seq = stream.startSeq(start, Date.now());
      const endSeq = stream.lastSeq;
      const matches = (subject: string) =>
        filters.length === 0 || filters.some((f) => subjectMatches(f, subject));
      let yielded = 0;
      while (!this.#stopped) {
        if (stream.deleted) throw new BusError("STREAM_NOT_FOUND", `stream ${stream.name} was deleted`);
        if (stopAtEnd && seq > endSeq) return;
        stream.expire(Date.now());
        seq = Math.max(seq, stream.firstSeq);
        if (seq > stream.lastSeq) {
          await new Promise<void>((resolve) => {
            const wake = () => {
              offAppended();
              if (this.#wake === wake) this.#wake = undefined;
              resolve();
            };
            const offAppended = stream.appended.subscribe(wake);
            this.#wake = wake;
          });
          continue;
        }
        const record = stream.get(seq)!;
        seq += 1;
        if (!matches(record.subject)) continue;
        yield storedMessage(stream.name, record);
        if (++yielded % DELIVERIES_PER_TURN === 0) await yieldToEventLoop();
      }
    } finally {
      this.#stopped = true;
      this.#onDone();
    }
  }
}

class MemoryService implements Service {
  readonly #server: MemoryServer;
  readonly #entry: ServiceEntry;
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #onStopped: () => void;

  constructor(
    server: MemoryServer,
    namespace: string,
    pattern: string,
    queue: string,
    handler: RequestHandler,
    onStopped: () => void,
  ) {
    this.#server = server;
    this.#onStopped = onStopped;
    this.#entry = {
      namespace,
      pattern,
      queue,
      handler: (request) => {
        const answering = Promise.resolve().then(() => handler(request));
        this.#inFlight.add(answering);
        answering.then(
          () => this.#inFlight.delete(answering),
          () => this.#inFlight.delete(answering),
        );
        return answering;
      },
    };
    server.services.push(this.#entry);
  }

  async stop(): Promise<void> {
    const index = this.#server.services.indexOf(this.#entry);
    if (index >= 0) this.#server.services.splice(index, 1);
    await Promise.allSettled([...this.#inFlight]);
    this.#onStopped();
  }
}

function storedMessage(stream: StreamName, record: MemoryRecord): StoredMessage {
  return {
    stream,
    subject: record.subject,
    data: record.data.slice(),
    headers: record.headers,
    seq: record.seq,
    time: new Date(record.time),
  };
}
