import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { connectNatsBus } from "@simd23/bus";
import { type Figure, measureRate, type Suite, type SuiteContext } from "../harness.js";

const MESSAGE_BYTES = 1024;
const MEASURE_MS = 1_500;
const BATCH = 10_000;
const NAIVE_BATCH = 500;
const CONSUMED = 100_000;

const baselineName = "core NATS publish";

const suite: Suite = {
  name: "bus",
  needs: ["nats"],
  description:
    "The bus on the local NATS server, 1 KiB messages. Baseline: core NATS's raw publish rate (nc.publish, then " +
    "one flush), the most a client can push through this server; a durable publish is stored and acknowledged.",
  async run(context: SuiteContext): Promise<Figure[]> {
    const servers = context.natsUrl;
    const namespace = `bench-${randomBytes(4).toString("hex")}`;
    const payload = new Uint8Array(MESSAGE_BYTES).fill(0x5a);
    const nc = await connect({ servers, name: "bench-bus-baseline" });
    const bus = await connectNatsBus({ servers, namespace, name: "bench-bus" });
    try {
      // No stream stores this subject and nothing subscribes to it: the server only routes it.
      const rawSubject = `${namespace}.raw.baseline`;
      const core = await measureRate(async () => {
        for (let i = 0; i < BATCH; i++) nc.publish(rawSubject, payload);
        await nc.flush();
        return BATCH;
      }, MEASURE_MS);
      const baseline = { name: baselineName, value: core };

      const durable = await measureRate(async () => {
        const acks = await Promise.all(
          Array.from({ length: BATCH }, () => bus.publish("ledger.bench", payload)),
        );
        if (acks.length !== BATCH) throw new Error("a publish was not acknowledged");
        return BATCH;
      }, MEASURE_MS);

      // The ceiling of publishing with acks: the same reply-subject pipelining with no
      // promises, no bookkeeping, acks only counted.
      const ceiling = await measureRate(
        () => countedAcks(nc, `${namespace}.ledger.ceiling`, payload),
        MEASURE_MS,
      );

      // What the server stores with no acks at all: the bound on any acknowledged publish.
      const jsm = await jetstreamManager(nc);
      const storeStream = `SIMD23_${namespace.toUpperCase()}_CONTROL`;
      const stored = await measureRate(async () => {
        const before = (await jsm.streams.info(storeStream)).state.messages;
        for (let i = 0; i < BATCH; i++) nc.publish(`${namespace}.control.noack`, payload);
        await nc.flush();
        while ((await jsm.streams.info(storeStream)).state.messages < before + BATCH) await nc.flush();
        return BATCH;
      }, MEASURE_MS);

      const js = jetstream(nc);
      const naiveSubject = `${namespace}.bankhashes.naive`;
      const naive = await measureRate(async () => {
        for (let i = 0; i < NAIVE_BATCH; i++) await js.publish(naiveSubject, payload);
        return NAIVE_BATCH;
      }, MEASURE_MS);

      for (let sent = 0; sent < CONSUMED; sent += BATCH) {
        await Promise.all(Array.from({ length: BATCH }, () => bus.publish("votes.bench", payload)));
      }
      const consumedRate = await timeConsumer(bus, CONSUMED);
      const replayRate = await timeReplay(bus, CONSUMED);

      return [
        { name: baselineName, value: core, unit: "msgs/s", note: "fire and forget, no storage" },
        {
          name: "bus.publish (JetStream, every message acknowledged)",
          value: durable,
          unit: "msgs/s",
          baseline,
          note: `pipelined through one inbox, up to ${BATCH} in flight`,
        },
        {
          name: "raw JetStream publish, acks only counted (ceiling of the approach)",
          value: ceiling,
          unit: "msgs/s",
          baseline,
          note: `same pipelining, ${BATCH} per round`,
        },
        {
          name: "JetStream store without acks (the server's own limit)",
          value: stored,
          unit: "msgs/s",
          baseline,
          note: "no reply subject; counted from the stream's state",
        },
        {
          name: "naive js.publish (one awaited per message)",
          value: naive,
          unit: "msgs/s",
          baseline,
        },
        {
          name: "bus.consume (durable, one ack per message)",
          value: consumedRate,
          unit: "msgs/s",
          baseline,
          note: `${CONSUMED} stored messages`,
        },
        {
          name: "bus.replay (ordered, no acks)",
          value: replayRate,
          unit: "msgs/s",
          baseline,
          note: `${CONSUMED} stored messages`,
        },
      ];
    } finally {
      await bus.deleteStreams().catch(() => undefined);
      await bus.close();
      await nc.close();
    }
  },
};

async function countedAcks(nc: NatsConnection, subject: string, payload: Uint8Array): Promise<number> {
  const inbox = `${createInbox()}.`;
  let acked = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const subscription = nc.subscribe(`${inbox}*`, {
    callback: () => {
      if (++acked === BATCH) done();
    },
  });
  for (let i = 0; i < BATCH; i++) nc.publish(subject, payload, { reply: inbox + i.toString(36) });
  await finished;
  subscription.unsubscribe();
  return BATCH;
}

async function timeConsumer(bus: Awaited<ReturnType<typeof connectNatsBus>>, count: number): Promise<number> {
  let received = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const start = performance.now();
  const consumer = await bus.consume(
    { stream: "VOTES", durable: "bench", start: "all", maxAckPending: 10_000 },
    (message) => {
      message.ack();
      if (++received === count) done();
    },
  );
  await finished;
  const elapsed = performance.now() - start;
  await consumer.stop();
  return (count * 1000) / elapsed;
}

async function timeReplay(bus: Awaited<ReturnType<typeof connectNatsBus>>, count: number): Promise<number> {
  let received = 0;
  const start = performance.now();
  for await (const _ of bus.replay({ stream: "VOTES", start: "all", stopAtEnd: true })) received += 1;
  const elapsed = performance.now() - start;
  if (received !== count) throw new Error(`replay read ${received} of ${count} messages`);
  return (count * 1000) / elapsed;
}

export default suite;
