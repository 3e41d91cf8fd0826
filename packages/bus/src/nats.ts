import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type Consumer as JsConsumer,
  jetstream,
  jetstreamManager,
  type OrderedConsumerOptions,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import {
  connect,
  type Msg,
  type NatsConnection,
  nanos,
  nuid,
  type Subscription,
} from "@nats-io/transport-node";
import { BusError } from "./errors.js";
import { resolveLimits } from "./private/limits.js";
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
} from "./private/names.js";
import { NatsPullConsumer } from "./private/nats-consumer.js";
import { fromNatsHeaders, plainBytes, toNatsHeaders } from "./private/nats-convert.js";
import { toBusError } from "./private/nats-errors.js";
import { PipelinedPublisher } from "./private/publisher.js";
import { answer, ERROR_HEADER } from "./private/reply.js";
import { StatusTracker } from "./private/status.js";
import { STREAM_NAMES, STREAMS, type StreamLimits, type StreamName } from "./streams.js";
import type {
  Bus,
  BusStatus,
  ConsumeOptions,
  Consumer,
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
  StartPosition,
  StoredMessage,
  StreamLimitOverrides,
} from "./types.js";

export interface NatsBusOptions {
  /** `nats://host:port`, one or several (a cluster). */
  readonly servers: string | readonly string[];
  readonly namespace: string;
  /** The client name the server shows in its monitoring (e.g. `executor-3`). */
  readonly name: string;
  readonly streams?: StreamLimitOverrides;
  /** Stream replicas in a JetStream cluster. Default 1. */
  readonly replicas?: number;
  /** A publish not acknowledged within this fails with TIMEOUT. Default 5000. */
  readonly publishTimeoutMs?: number;
  /** Publishes beyond this many unacknowledged wait their turn (in order). Default 8192. */
  readonly maxPublishesInFlight?: number;
  /**
   * Keep trying until a first connection succeeds (for a pod that may start before NATS).
   * Default false: an unreachable server fails at once with DISCONNECTED.
   */
  readonly waitForServer?: boolean;
}

const DEFAULT_PUBLISH_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_PUBLISHES_IN_FLIGHT = 8_192;
const DEFAULT_ACK_WAIT_MS = 30_000;
const DEFAULT_MAX_ACK_PENDING = 1000;
// A consumer without a durable name is deleted by stop(); this cleans up after a crash.
const EPHEMERAL_INACTIVE_THRESHOLD_MS = 15 * 60 * 1000;
const RECONNECT_MIN_DELAY_MS = 100;
const RECONNECT_MAX_DELAY_MS = 5_000;
const JETSTREAM_PROBE_INTERVAL_MS = 250;
const REPLAY_BATCH = 512;
// JetStream's answer when a stream exists with another configuration (its limits changed).
const STREAM_NAME_IN_USE = 10058;

/** Opens the NATS JetStream bus: connects, creates or updates the streams, and is ready. */
export async function connectNatsBus(options: NatsBusOptions): Promise<Bus> {
  const namespace = checkNamespace(options.namespace);
  const limits = resolveLimits(options.streams);
  if (typeof options.name !== "string" || options.name.length === 0) {
    throw new BusError("INVALID_ARGUMENT", "name must be a non-empty string");
  }
  const settings: Settings = {
    namespace,
    limits,
    replicas: checkCount("replicas", options.replicas, 1, 1),
    publishTimeoutMs: checkCount("publishTimeoutMs", options.publishTimeoutMs, DEFAULT_PUBLISH_TIMEOUT_MS, 1),
    maxPublishesInFlight: checkCount(
      "maxPublishesInFlight",
      options.maxPublishesInFlight,
      DEFAULT_MAX_PUBLISHES_IN_FLIGHT,
      1,
    ),
  };
  const reconnects = { attempt: 0 };
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: typeof options.servers === "string" ? options.servers : [...options.servers],
      name: options.name,
      maxReconnectAttempts: -1,
      waitOnFirstConnect: options.waitForServer === true,
      reconnectDelayHandler: () => {
        const backoff = Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_MIN_DELAY_MS * 2 ** reconnects.attempt++);
        return backoff + Math.random() * RECONNECT_MIN_DELAY_MS;
      },
      // Notice a half-open connection (a partition, not a closed socket) within ~15 s.
      pingInterval: 5_000,
      maxPingOut: 3,
    });
  } catch (error) {
    throw new BusError("DISCONNECTED", `cannot connect to NATS at ${String(options.servers)}`, {
      cause: error,
    });
  }
  try {
    const jsm = await jetstreamManager(nc);
    const bus = new NatsBus(nc, jsm, settings, reconnects);
    await bus.ensureStreams();
    bus.start();
    return bus;
  } catch (error) {
    await nc.close().catch(() => undefined);
    throw toBusError(error, "opening the bus");
  }
}

interface Settings {
  readonly namespace: string;
  readonly limits: Record<StreamName, StreamLimits>;
  readonly replicas: number;
  readonly publishTimeoutMs: number;
  readonly maxPublishesInFlight: number;
}

class NatsBus implements Bus {
  readonly adapter = "nats" as const;
  readonly namespace: string;
  readonly maxPayload: number;
  readonly #nc: NatsConnection;
  readonly #jsm: JetStreamManager;
  readonly #js: JetStreamClient;
  readonly #settings: Settings;
  readonly #reconnects: { attempt: number };
  readonly #prefix: string;
  readonly #natsStreams: Record<StreamName, string>;
  readonly #streamByNatsName: Map<string, StreamName>;
  readonly #multipleFilters: boolean;
  readonly #status = new StatusTracker("reconnecting");
  readonly #publisher: PipelinedPublisher;
  readonly #consumers = new Set<NatsPullConsumer>();
  readonly #replays = new Set<NatsReplay>();
  readonly #services = new Set<NatsService>();
  #closing: Promise<void> | undefined;
  #connectionEpoch = 0;

  constructor(
    nc: NatsConnection,
    jsm: JetStreamManager,
    settings: Settings,
    reconnects: { attempt: number },
  ) {
    this.#nc = nc;
    this.#jsm = jsm;
    this.#js = jetstream(nc);
    this.#settings = settings;
    this.#reconnects = reconnects;
    this.namespace = settings.namespace;
    this.#prefix = `${settings.namespace}.`;
    const upper = settings.namespace.toUpperCase();
    this.#natsStreams = Object.fromEntries(
      STREAM_NAMES.map((name) => [name, `SIMD23_${upper}_${name}`]),
    ) as Record<StreamName, string>;
    this.#streamByNatsName = new Map(STREAM_NAMES.map((name) => [this.#natsStreams[name], name]));
    this.maxPayload = (nc.info?.max_payload ?? 1024 * 1024) - HEADER_ALLOWANCE;
    this.#multipleFilters = versionAtLeast(nc.info?.version, 2, 10);
    this.#publisher = new PipelinedPublisher(
      nc,
      (natsStream) => this.#streamByNatsName.get(natsStream),
      settings.publishTimeoutMs,
      settings.maxPublishesInFlight,
    );
  }

  /** Starts following the connection's status; the bus is ready from here. */
  start(): void {
    this.#status.set("connected");
    void this.#followStatus();
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
    for (const name of STREAM_NAMES) {
      const config = this.#streamConfig(name);
      try {
        await this.#jsm.streams.add(config);
      } catch (error) {
        const configurationChanged = error instanceof JetStreamApiError && error.code === STREAM_NAME_IN_USE;
        if (!configurationChanged) throw toBusError(error, `creating ${name}`);
        await this.#jsm.streams.update(config.name, config).catch((updateError: unknown) => {
          throw toBusError(updateError, `updating ${name}`);
        });
      }
    }
  }

  async deleteStreams(): Promise<void> {
    this.#checkOpen();
    for (const name of STREAM_NAMES) {
      try {
        await this.#jsm.streams.delete(this.#natsStreams[name]);
      } catch (error) {
        if (!(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)) {
          throw toBusError(error, `deleting ${name}`);
        }
      }
    }
  }

  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<PublishAck> {
    try {
      this.#checkOpen();
      checkPublishSubject(subject);
      checkPayload(data, this.maxPayload);
      if (options !== undefined) {
        checkMsgId(options.msgId);
        checkHeaders(options.headers);
      }
      this.#checkConnected();
    } catch (error) {
      return Promise.reject(error);
    }
    const headers = options === undefined ? undefined : toNatsHeaders(options.headers, options.msgId);
    return this.#publisher.publish(this.#prefix + subject, data, headers);
  }

  async consume(options: ConsumeOptions, handler: MessageHandler): Promise<Consumer> {
    this.#checkOpen();
    const stream = checkStreamName(options.stream);
    const filters = checkFilterSubjects(stream, options.filterSubjects);
    const start = checkStart(options.start);
    const ackWaitMs = checkCount("ackWaitMs", options.ackWaitMs, DEFAULT_ACK_WAIT_MS, 1);
    const maxAckPending = checkCount("maxAckPending", options.maxAckPending, DEFAULT_MAX_ACK_PENDING, 1);
    const maxDeliver = checkCount("maxDeliver", options.maxDeliver, 0);
    if (typeof handler !== "function") throw new BusError("INVALID_ARGUMENT", "handler must be a function");
    const durable = options.durable !== undefined;
    const name = durable ? checkConsumerName(options.durable!) : `ephemeral_${nuid.next()}`;
    this.#checkFilterCount(filters);
    this.#checkConnected();

    const natsStream = this.#natsStreams[stream];
    const settings: Partial<ConsumerConfig> = {
      ack_wait: nanos(ackWaitMs),
      max_ack_pending: maxAckPending,
      max_deliver: maxDeliver > 0 ? maxDeliver : -1,
      ...this.#filterConfig(filters),
    };
    try {
      const existing = durable ? await this.#consumerInfo(natsStream, name) : undefined;
      if (existing === undefined) {
        await this.#jsm.consumers.add(natsStream, {
          durable_name: name,
          ack_policy: AckPolicy.Explicit,
          ...startConfig(start),
          ...settings,
          ...(durable ? {} : { inactive_threshold: nanos(EPHEMERAL_INACTIVE_THRESHOLD_MS) }),
        });
      } else if (!sameSettings(existing.config, settings)) {
        await this.#jsm.consumers.update(natsStream, name, settings);
      }
    } catch (error) {
      throw toBusError(error, `creating consumer ${name} on ${stream}`);
    }
    const runner = new NatsPullConsumer(
      {
        nc: this.#nc,
        status: this.#status,
        natsStream,
        stream,
        name,
        durable,
        prefixLength: this.#prefix.length,
        maxAckPending,
        deleteConsumer: async () => {
          await this.#jsm.consumers.delete(natsStream, name);
        },
      },
      handler,
      options.onError,
      () => this.#consumers.delete(runner),
    );
    this.#consumers.add(runner);
    return runner;
  }

  replay(options: ReplayOptions): Replay {
    const replay = new NatsReplay(
      async (resumeAt) => {
        this.#checkOpen();
        const stream = checkStreamName(options.stream);
        const filters = checkFilterSubjects(stream, options.filterSubjects);
        const start = resumeAt ?? checkStart(options.start);
        this.#checkFilterCount(filters);
        this.#checkConnected();
        const natsStream = this.#natsStreams[stream];
        try {
          const endSeq = (await this.#jsm.streams.info(natsStream)).state.last_seq;
          const consumer = await this.#js.consumers.get(
            natsStream,
            orderedConfig(start, this.#filterConfig(filters)),
          );
          const remaining = (await consumer.info(true)).num_pending;
          return { stream, consumer, endSeq, remaining, stopAtEnd: options.stopAtEnd === true };
        } catch (error) {
          throw toBusError(error, `replaying ${stream}`);
        }
      },
      options.start === "new",
      this.#prefix.length,
      () => this.#replays.delete(replay),
    );
    this.#replays.add(replay);
    return replay;
  }

  async getLast(stream: StreamName, subject: string): Promise<StoredMessage | undefined> {
    this.#checkOpen();
    const streamName = checkStreamName(stream);
    checkSubjectInStream(streamName, subject);
    this.#checkConnected();
    try {
      const stored = await this.#jsm.streams.getMessage(this.#natsStreams[streamName], {
        last_by_subj: this.#prefix + subject,
      });
      if (stored === null) return undefined;
      return {
        stream: streamName,
        subject,
        data: plainBytes(stored.data),
        headers: fromNatsHeaders(stored.header),
        seq: stored.seq,
        time: stored.time,
      };
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.NoMessageFound)
        return undefined;
      throw toBusError(error, `reading the last message on ${subject}`);
    }
  }

  async request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Reply> {
    this.#checkOpen();
    checkServiceSubject(subject, false);
    checkPayload(data, this.maxPayload);
    const headers = checkHeaders(options?.headers);
    const timeoutMs = checkCount("timeoutMs", options?.timeoutMs, 0, 1);
    this.#checkConnected();
    let reply: Msg;
    try {
      reply = await this.#nc.request(this.#prefix + subject, data, {
        timeout: timeoutMs,
        headers: toNatsHeaders(headers),
      });
    } catch (error) {
      throw toBusError(error, `request to ${subject}`);
    }
    const remoteError = reply.headers?.get(ERROR_HEADER);
    if (remoteError) throw new BusError("HANDLER_ERROR", remoteError);
    return { data: plainBytes(reply.data), headers: fromNatsHeaders(reply.headers) };
  }

  async serve(subject: string, handler: RequestHandler, options: ServeOptions = {}): Promise<Service> {
    this.#checkOpen();
    checkServiceSubject(subject, true);
    if (typeof handler !== "function") throw new BusError("INVALID_ARGUMENT", "handler must be a function");
    const queue = options.queue ?? "default";
    checkLiteralSubject(queue);
    this.#checkConnected();
    const service = new NatsService(
      this.#nc,
      this.#prefix + subject,
      queue,
      this.#prefix.length,
      handler,
      () => this.#status.status === "connected",
      () => this.#services.delete(service),
    );
    this.#services.add(service);
    // Once the server has the subscription, a request made after serve() resolves finds it.
    await this.#nc.flush().catch((error: unknown) => {
      throw toBusError(error, `serving ${subject}`);
    });
    return service;
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const replay of this.#replays) replay.stop();
      await Promise.all([...this.#consumers].map((consumer) => consumer.stop()));
      await Promise.all([...this.#services].map((service) => service.stop()));
      await this.#publisher.idle();
      this.#publisher.close();
      if (this.#status.status === "connected") await this.#nc.drain().catch(() => this.#nc.close());
      else await this.#nc.close();
      this.#status.set("closed");
    })();
    return this.#closing;
  }

  async #followStatus(): Promise<void> {
    for await (const event of this.#nc.status()) {
      switch (event.type) {
        case "disconnect":
          this.#connectionEpoch += 1;
          this.#status.set("disconnected");
          this.#publisher.failAll(new BusError("DISCONNECTED", "the connection to NATS was lost"));
          break;
        case "reconnecting":
          this.#status.set("reconnecting");
          break;
        case "reconnect":
          this.#reconnects.attempt = 0;
          void this.#whenJetStreamAnswers(++this.#connectionEpoch);
          break;
        case "close":
          this.#publisher.failAll(new BusError("CLOSED", "the connection to NATS was closed"));
          this.#status.set("closed");
          return;
        default:
          break;
      }
    }
  }

  /**
   * After a reconnect the server may still be restoring JetStream: the bus is ready again only
   * once the streams answer (and exist, in case the server lost them).
   */
  async #whenJetStreamAnswers(epoch: number): Promise<void> {
    while (epoch === this.#connectionEpoch && this.#closing === undefined) {
      try {
        await this.ensureStreams();
        if (epoch === this.#connectionEpoch) this.#status.set("connected");
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, JETSTREAM_PROBE_INTERVAL_MS));
      }
    }
  }

  async #consumerInfo(natsStream: string, name: string): Promise<ConsumerInfo | undefined> {
    try {
      return await this.#jsm.consumers.info(natsStream, name);
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)
        return undefined;
      throw error;
    }
  }

  #streamConfig(name: StreamName): StreamConfig {
    const limits = this.#settings.limits[name];
    return {
      name: this.#natsStreams[name],
      description: STREAMS[name].description,
      subjects: [`${this.#prefix}${STREAMS[name].subjectToken}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(limits.maxAgeMs),
      max_bytes: limits.maxBytes > 0 ? limits.maxBytes : -1,
      max_msgs: limits.maxMessages > 0 ? limits.maxMessages : -1,
      duplicate_window: nanos(limits.duplicateWindowMs),
      num_replicas: this.#settings.replicas,
    } as StreamConfig;
  }

  #filterConfig(filters: readonly string[]): Partial<ConsumerConfig> {
    if (filters.length === 0) return {};
    const subjects = filters.map((filter) => this.#prefix + filter);
    return subjects.length === 1 ? { filter_subject: subjects[0]! } : { filter_subjects: subjects };
  }

  #checkFilterCount(filters: readonly string[]): void {
    if (filters.length > 1 && !this.#multipleFilters) {
      throw new BusError("INVALID_ARGUMENT", "several filter subjects need nats-server 2.10 or later");
    }
  }

  #checkOpen(): void {
    if (this.#closing !== undefined || this.#status.status === "closed") {
      throw new BusError("CLOSED", "the bus is closed");
    }
  }

  #checkConnected(): void {
    if (this.#status.status !== "connected") {
      throw new BusError("DISCONNECTED", `the bus is ${this.#status.status}`);
    }
  }
}

function startConfig(start: StartPosition): Partial<ConsumerConfig> {
  if (start === "all") return { deliver_policy: DeliverPolicy.All };
  if (start === "new") return { deliver_policy: DeliverPolicy.New };
  if ("sequence" in start)
    return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.sequence };
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.time.toISOString() };
}

function orderedConfig(
  start: StartPosition,
  filter: Partial<ConsumerConfig>,
): Partial<OrderedConsumerOptions> {
  const config: Partial<OrderedConsumerOptions> = {};
  const filters = filter.filter_subject ?? filter.filter_subjects;
  if (filters !== undefined) config.filter_subjects = filters;
  if (start === "all") config.deliver_policy = DeliverPolicy.All;
  else if (start === "new") config.deliver_policy = DeliverPolicy.New;
  else if ("sequence" in start) config.opt_start_seq = start.sequence;
  else config.opt_start_time = start.time.toISOString();
  return config;
}

function sameSettings(current: ConsumerConfig, wanted: Partial<ConsumerConfig>): boolean {
  return (
    current.ack_wait === wanted.ack_wait &&
    current.max_ack_pending === wanted.max_ack_pending &&
    (current.max_deliver ?? -1) === wanted.max_deliver &&
    (current.filter_subject ?? "") === (wanted.filter_subject ?? "") &&
    JSON.stringify(current.filter_subjects ?? []) === JSON.stringify(wanted.filter_subjects ?? [])
  );
}

function versionAtLeast(version: string | undefined, major: number, minor: number): boolean {
  const [a = 0, b = 0] = (version ?? "0.0").split(".").map((part) => Number.parseInt(part, 10));
  return a > major || (a === major && b >= minor);
}

interface ReplayPlan {
  readonly stream: StreamName;
  readonly consumer: JsConsumer;
  readonly endSeq: number;
  readonly remaining: number;
  readonly stopAtEnd: boolean;
}

/** Errors after which a replay is opened again where it left off: the server or the connection came back. */
const RESUMABLE: ReadonlySet<string> = new Set(["DISCONNECTED", "TIMEOUT", "REJECTED"]);

/**
 * A replay on an ordered consumer. An ordered consumer lives on one server and dies with it (a
 * restart answers "consumer not found"), and a lost connection ends its messages: the replay then
 * opens a new one after the last message it delivered, with a backoff while the server is away,
 * so a reader sees every message once, in order, across restarts. Only a closed bus, a deleted
 * stream or bad options end it with an error.
 */
class NatsReplay implements Replay {
  readonly #plan: (resumeAt: StartPosition | undefined) => Promise<ReplayPlan>;
  /** Started at "new": resuming before the first message must start after the first plan's last one. */
  readonly #startsNew: boolean;
  readonly #prefixLength: number;
  readonly #onDone: () => void;
  #stopped = false;
  #messages: ConsumerMessages | undefined;
  #wake: (() => void) | undefined;

  constructor(
    plan: (resumeAt: StartPosition | undefined) => Promise<ReplayPlan>,
    startsNew: boolean,
    prefixLength: number,
    onDone: () => void,
  ) {
    this.#plan = plan;
    this.#startsNew = startsNew;
    this.#prefixLength = prefixLength;
    this.#onDone = onDone;
  }

  stop(): void {
    this.#stopped = true;
    this.#messages?.stop();
    this.#wake?.();
  }

  async #pause(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<StoredMessage> {
    let resumeAt: StartPosition | undefined;
    /** With stopAtEnd: the last sequence stored when the replay began (kept across resumptions). */
    let endSeq: number | undefined;
    let failures = 0;
    try {
      while (!this.#stopped) {
        let plan: ReplayPlan;
        try {
          plan = await this.#plan(resumeAt);
        } catch (error) {
          const busError = toBusError(error, "replaying");
          if (this.#stopped) return;
          if (!RESUMABLE.has(busError.code)) throw busError;
          await this.#pause(Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_MIN_DELAY_MS * 2 ** failures++));
          continue;
        }
        endSeq ??= plan.endSeq;
        if (resumeAt === undefined && this.#startsNew) resumeAt = { sequence: plan.endSeq + 1 };
        const consumer = plan.consumer;
        try {
          if (this.#stopped) return;
          // Nothing left at or before the end the replay began with.
          const pastEnd =
            typeof resumeAt === "object" && "sequence" in resumeAt && resumeAt.sequence > endSeq;
          if (plan.stopAtEnd && (plan.remaining === 0 || pastEnd)) return;
          const messages = await consumer.consume({
            max_messages: REPLAY_BATCH,
            abort_on_missing_resource: true,
          });
          this.#messages = messages;
          if (this.#stopped) messages.stop();
          for await (const msg of messages) {
            if (plan.stopAtEnd && msg.seq > endSeq) return;
            failures = 0;
            resumeAt = { sequence: msg.seq + 1 };
            yield {
              stream: plan.stream,
              subject: msg.subject.slice(this.#prefixLength),
              data: plainBytes(msg.data),
              headers: fromNatsHeaders(msg.headers),
              seq: msg.seq,
              time: msg.time,
            };
            if (plan.stopAtEnd && (msg.seq >= endSeq || msg.info.pending === 0)) return;
          }
        } catch (error) {
          const busError = toBusError(error, `replaying ${plan.stream}`);
          if (this.#stopped) return;
          if (!RESUMABLE.has(busError.code)) throw busError;
        } finally {
          this.#messages?.stop();
          this.#messages = undefined;
          consumer.delete().catch(() => undefined);
        }
        if (this.#stopped) return;
        // The messages ended without a stop: the consumer or the connection is gone. Open a new one.
        await this.#pause(Math.min(RECONNECT_MAX_DELAY_MS, RECONNECT_MIN_DELAY_MS * 2 ** failures++));
      }
    } finally {
      this.#stopped = true;
      this.#onDone();
    }
  }
}

class NatsService implements Service {
  readonly #subscription: Subscription;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #onStopped: () => void;
  readonly #connected: () => boolean;

  constructor(
    nc: NatsConnection,
    subject: string,
    queue: string,
    prefixLength: number,
    handler: RequestHandler,
    connected: () => boolean,
    onStopped: () => void,
  ) {
    this.#onStopped = onStopped;
    this.#connected = connected;
    this.#subscription = nc.subscribe(subject, {
      queue,
      callback: (error, msg) => {
        if (error !== null || !msg.reply) return;
        const request = {
          subject: msg.subject.slice(prefixLength),
          data: plainBytes(msg.data),
          headers: fromNatsHeaders(msg.headers),
        };
        const answering = answer(handler, request).then((reply) => {
          try {
            msg.respond(reply.data, { headers: toNatsHeaders(reply.headers) });
          } catch {
            // The connection is gone; the requester times out.
          }
        });
        this.#inFlight.add(answering);
        answering.finally(() => this.#inFlight.delete(answering));
      },
    });
  }

  async stop(): Promise<void> {
    // Draining needs the server's answer; with the server away, stop taking requests at once.
    if (this.#connected()) await this.#subscription.drain().catch(() => undefined);
    else this.#subscription.unsubscribe();
    await Promise.allSettled([...this.#inFlight]);
    this.#onStopped();
  }
}
