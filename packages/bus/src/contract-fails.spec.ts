import { AssertionError } from "node:assert";
import { describe, expect, it } from "vitest";
import { createMemoryBus, createMemoryBusServer, type MemoryBusServer } from "./memory.js";
import { connectNatsBus } from "./nats.js";
import { type BusOpener, CONTRACT_CHECKS, runContractCheck } from "./private/contract.js";
import type { StreamName } from "./streams.js";
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
  StoredMessage,
} from "./types.js";

// Proof that the contract has teeth: adapters broken on purpose must fail the checks that
// cover what they break, on either adapter.

class ForwardingBus implements Bus {
  constructor(protected readonly inner: Bus) {}
  get adapter() {
    return this.inner.adapter;
  }
  get namespace() {
    return this.inner.namespace;
  }
  get maxPayload() {
    return this.inner.maxPayload;
  }
  get ready() {
    return this.inner.ready;
  }
  get status() {
    return this.inner.status;
  }
  onStatus(listener: (status: BusStatus) => void) {
    return this.inner.onStatus(listener);
  }
  ensureStreams() {
    return this.inner.ensureStreams();
  }
  deleteStreams() {
    return this.inner.deleteStreams();
  }
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<PublishAck> {
    return this.inner.publish(subject, data, options);
  }
  consume(options: ConsumeOptions, handler: MessageHandler): Promise<Consumer> {
    return this.inner.consume(options, handler);
  }
  replay(options: ReplayOptions): Replay {
    return this.inner.replay(options);
  }
  getLast(stream: StreamName, subject: string): Promise<StoredMessage | undefined> {
    return this.inner.getLast(stream, subject);
  }
  request(subject: string, data: Uint8Array, options: RequestOptions): Promise<Reply> {
    return this.inner.request(subject, data, options);
  }
  serve(subject: string, handler: RequestHandler, options?: ServeOptions): Promise<Service> {
    return this.inner.serve(subject, handler, options);
  }
  close() {
    return this.inner.close();
  }
}

/** Acks every message on arrival, so nothing is ever delivered again. */
class AutoAckBus extends ForwardingBus {
  override consume(options: ConsumeOptions, handler: MessageHandler): Promise<Consumer> {
    return this.inner.consume(options, (message) => {
      message.ack();
      return handler({ ...message, ack: () => undefined, nak: () => undefined, term: () => undefined });
    });
  }
}

/** Drops the msgId, so nothing is deduplicated. */
class NoDedupBus extends ForwardingBus {
  override publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<PublishAck> {
    return this.inner.publish(subject, data, { headers: options?.headers });
  }
}

/** Sends every other publish a moment late, so publishes overtake each other. */
class ReorderingBus extends ForwardingBus {
  #count = 0;
  override publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<PublishAck> {
    if (++this.#count % 2 === 0) return this.inner.publish(subject, data, options);
    return new Promise((resolve) => setTimeout(resolve, 1)).then(() =>
      this.inner.publish(subject, data, options),
    );
  }
}

const memoryServers = new Map<string, MemoryBusServer>();
const openers: Record<string, BusOpener> = {
  memory: async (namespace) => {
    let server = memoryServers.get(namespace);
    if (server === undefined) {
      server = createMemoryBusServer();
      memoryServers.set(namespace, server);
    }
    return createMemoryBus({ namespace, server });
  },
  nats: (namespace) =>
    connectNatsBus({
      servers: process.env.SIMD23_NATS_URL ?? "nats://127.0.0.1:4222",
      namespace,
      name: "bus-contract-fails",
    }),
};

const brokenAdapters: ReadonlyArray<{ broken: string; wrap: (bus: Bus) => Bus; failing: readonly string[] }> =
  [
    {
      broken: "acks automatically",
      wrap: (bus) => new AutoAckBus(bus),
      failing: [
        "an unacknowledged message is delivered again after the ack wait, with its delivery count",
        "nak delivers again at once, or after the given delay",
        "maxDeliver caps how often a message is delivered",
        "a handler that throws gets its message again and its error reported",
      ],
    },
    {
      broken: "drops deduplication",
      wrap: (bus) => new NoDedupBus(bus),
      failing: ["a msgId is stored once within the duplicate window"],
    },
    {
      broken: "reorders publishes",
      wrap: (bus) => new ReorderingBus(bus),
      failing: ["publishes from one bus keep their order, even when many are in flight"],
    },
  ];

describe("a broken adapter fails the contract", () => {
  for (const [adapter, open] of Object.entries(openers)) {
    for (const { broken, wrap, failing } of brokenAdapters) {
      for (const name of failing) {
        const check = CONTRACT_CHECKS.find((candidate) => candidate.name === name);
        it.concurrent(`${adapter} adapter that ${broken} fails: ${name}`, async () => {
          expect(check).toBeDefined();
          await expect(
            runContractCheck(check!, async (namespace) => wrap(await open(namespace))),
          ).rejects.toBeInstanceOf(AssertionError);
        });
      }
    }
  }
});
