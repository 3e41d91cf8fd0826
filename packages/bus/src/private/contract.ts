import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { BusError, type BusErrorCode } from "../errors.js";
import type { StreamName } from "../streams.js";
import type {
  Bus,
  BusStatus,
  DeliveredMessage,
  PublishAck,
  StoredMessage,
  StreamLimitOverrides,
} from "../types.js";

// The bus contract, written once and run against every adapter (see *.spec.ts). Each check
// throws on a violation. A check gets a fixture whose buses share one namespace on one
// server, so opening a second bus is what a restarted process sees.

export interface ContractFixture {
  /** A new bus (a new connection) on the fixture's namespace. */
  open(streams?: StreamLimitOverrides): Promise<Bus>;
}

export interface ContractCheck {
  readonly name: string;
  readonly run: (fixture: ContractFixture) => Promise<void>;
}

/** Opens a bus on `namespace`; buses opened on one namespace must share their streams. */
export type BusOpener = (namespace: string, streams?: StreamLimitOverrides) => Promise<Bus>;

/** Runs one check on a fresh namespace, then closes its buses and deletes its streams. */
export async function runContractCheck(check: ContractCheck, open: BusOpener): Promise<void> {
  const namespace = `contract-${randomBytes(6).toString("hex")}`;
  const buses: Bus[] = [];
  try {
    await check.run({
      open: async (streams) => {
        const bus = await open(namespace, streams);
        buses.push(bus);
        return bus;
      },
    });
  } finally {
    await Promise.allSettled(buses.map((bus) => bus.close()));
    const cleaner = await open(namespace);
    await cleaner.deleteStreams();
    await cleaner.close();
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);
const text = (data: Uint8Array) => decoder.decode(data);

async function waitFor(what: string, condition: () => boolean, timeoutMs = 6_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new assert.AssertionError({ message: `timed out waiting for ${what}` });
    await sleep(10);
  }
}

async function rejectsWith(code: BusErrorCode, action: () => Promise<unknown>, what: string): Promise<void> {
  await assert.rejects(
    action,
    (error: unknown) => error instanceof BusError && error.code === code,
    `${what} should fail with ${code}`,
  );
}

/** Reads a stream to its current end. */
async function readAll(bus: Bus, stream: StreamName, filterSubjects?: string[]): Promise<StoredMessage[]> {
  const messages: StoredMessage[] = [];
  for await (const message of bus.replay({ stream, start: "all", stopAtEnd: true, filterSubjects })) {
    messages.push(message);
  }
  return messages;
}

interface Delivery {
  readonly subject: string;
  readonly body: string;
  readonly seq: number;
  readonly deliveryCount: number;
  readonly at: number;
}

function toDelivery(message: DeliveredMessage): Delivery {
  return {
    subject: message.subject,
    body: text(message.data),
    seq: message.seq,
    deliveryCount: message.deliveryCount,
    at: Date.now(),
  };
}

function record(deliveries: Delivery[], message: DeliveredMessage): void {
  deliveries.push(toDelivery(message));
}

export const CONTRACT_CHECKS: readonly ContractCheck[] = [
  {
    name: "publish resolves with the stream and consecutive sequences once stored",
    async run(fixture) {
      const bus = await fixture.open();
      assert.equal(bus.ready, true);
      assert.equal(bus.status, "connected");
      const acks: PublishAck[] = [];
      for (const body of ["a", "b", "c"]) acks.push(await bus.publish("ledger.entries", bytes(body)));
      assert.deepEqual(acks, [
        { stream: "LEDGER", seq: 1, duplicate: false },
        { stream: "LEDGER", seq: 2, duplicate: false },
        { stream: "LEDGER", seq: 3, duplicate: false },
      ]);
      assert.deepEqual(await bus.publish("votes.v1", bytes("vote")), {
        stream: "VOTES",
        seq: 1,
        duplicate: false,
      });
      const stored = await readAll(bus, "LEDGER");
      assert.deepEqual(
        stored.map((m) => [m.stream, m.subject, m.seq, text(m.data)]),
        [
          ["LEDGER", "ledger.entries", 1, "a"],
          ["LEDGER", "ledger.entries", 2, "b"],
          ["LEDGER", "ledger.entries", 3, "c"],
        ],
      );
      for (const message of stored)
        assert.ok(message.time instanceof Date && !Number.isNaN(message.time.getTime()));
    },
  },
  {
    name: "a msgId is stored once within the duplicate window",
    async run(fixture) {
      const bus = await fixture.open();
      const first = await bus.publish("control.halt", bytes("one"), { msgId: "halt-7" });
      const again = await bus.publish("control.halt", bytes("one again"), { msgId: "halt-7" });
      const other = await bus.publish("control.halt", bytes("two"), { msgId: "halt-8" });
      assert.deepEqual(first, { stream: "CONTROL", seq: 1, duplicate: false });
      assert.deepEqual(again, { stream: "CONTROL", seq: 1, duplicate: true });
      assert.deepEqual(other, { stream: "CONTROL", seq: 2, duplicate: false });
      const second = await fixture.open();
      assert.deepEqual(
        await second.publish("control.halt", bytes("from another process"), { msgId: "halt-8" }),
        {
          stream: "CONTROL",
          seq: 2,
          duplicate: true,
        },
      );
      assert.deepEqual(
        (await readAll(bus, "CONTROL")).map((m) => text(m.data)),
        ["one", "two"],
      );
    },
  },
  {
    name: "publishes from one bus keep their order, even when many are in flight",
    async run(fixture) {
      const bus = await fixture.open();
      const count = 1000;
      const acks = await Promise.all(
        Array.from({ length: count }, (_, i) => bus.publish(`ledger.slot.${i % 3}`, bytes(String(i)))),
      );
      assert.deepEqual(
        acks.map((ack) => ack.seq),
        Array.from({ length: count }, (_, i) => i + 1),
      );
      const stored = await readAll(bus, "LEDGER");
      assert.deepEqual(
        stored.map((m) => text(m.data)),
        Array.from({ length: count }, (_, i) => String(i)),
      );
    },
  },
  {
    name: "many concurrent publishes are all acknowledged exactly once",
    async run(fixture) {
      const bus = await fixture.open();
      const count = 5000;
      let settled = 0;
      const payload = new Uint8Array(1024).fill(7);
      const acks = await Promise.all(
        Array.from({ length: count }, (_, i) =>
          bus.publish(i % 2 === 0 ? "votes.a" : "votes.b", payload).then((ack) => {
            settled += 1;
            return ack;
          }),
        ),
      );
      assert.equal(settled, count);
      assert.equal(new Set(acks.map((ack) => ack.seq)).size, count);
      assert.ok(acks.every((ack) => ack.stream === "VOTES" && !ack.duplicate));
      assert.equal(Math.max(...acks.map((ack) => ack.seq)), count);
      assert.equal((await readAll(bus, "VOTES")).length, count);
    },
  },
  {
    name: "payload bytes and string headers round-trip through publish, consume, replay and getLast",
    async run(fixture) {
      const bus = await fixture.open();
      const data = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
      const headers = {
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        tracestate: "simd23=abc,vendor=x y",
        "X-Empty": "",
      };
      await bus.publish("userblocks.abc", data, { headers, msgId: "block-abc" });
      await bus.publish("userblocks.plain", bytes("no headers"));
      const [withHeaders, plain] = await readAll(bus, "USERBLOCKS");
      assert.deepEqual(withHeaders?.data, data);
      assert.deepEqual(withHeaders?.headers, headers);
      assert.deepEqual(plain?.headers, {});
      const last = await bus.getLast("USERBLOCKS", "userblocks.abc");
      assert.deepEqual(last?.headers, headers);
      assert.deepEqual(last?.data, data);
      const delivered: DeliveredMessage[] = [];
      const consumer = await bus.consume({ stream: "USERBLOCKS", start: "all" }, (message) => {
        delivered.push(message);
        message.ack();
      });
      await waitFor("two deliveries", () => delivered.length === 2);
      await consumer.stop();
      assert.deepEqual(delivered[0]?.headers, headers);
      assert.deepEqual(delivered[0]?.data, data);
      assert.deepEqual(delivered[1]?.headers, {});
    },
  },
  {
    name: "invalid arguments fail with a typed error and store nothing",
    async run(fixture) {
      const bus = await fixture.open();
      const data = bytes("x");
      await rejectsWith("INVALID_ARGUMENT", () => bus.publish("ledger..x", data), "an empty token");
      await rejectsWith("INVALID_ARGUMENT", () => bus.publish("ledger.*", data), "a wildcard subject");
      await rejectsWith("INVALID_ARGUMENT", () => bus.publish("ledger.a b", data), "a space in a subject");
      await rejectsWith(
        "STREAM_NOT_FOUND",
        () => bus.publish("nostream.x", data),
        "a subject no stream stores",
      );
      await rejectsWith(
        "INVALID_ARGUMENT",
        () => bus.publish("ledger.x", data, { headers: { "Nats-Msg-Id": "sneaky" } }),
        "a reserved header",
      );
      await rejectsWith(
        "INVALID_ARGUMENT",
        () => bus.publish("ledger.x", data, { headers: { a: "line\nbreak" } }),
        "a header value with a line break",
      );
      await rejectsWith(
        "INVALID_ARGUMENT",
        () => bus.publish("ledger.x", data, { msgId: "" }),
        "an empty msgId",
      );
      await rejectsWith(
        "INVALID_ARGUMENT",
        () => bus.publish("ledger.x", new Uint8Array(bus.maxPayload + 1)),
        "a payload over maxPayload",
      );
      await rejectsWith(
        "INVALID_ARGUMENT",
        () => bus.consume({ stream: "LEDGER", filterSubjects: ["votes.>"] }, () => undefined),
        "a filter outside the stream",
      );
      await rejectsWith(
        "INVALID_ARGUMENT",
        () => bus.consume({ stream: "LEDGER", durable: "no.dots" }, () => undefined),
        "a durable name with a dot",
      );
      await rejectsWith(
        "INVALID_ARGUMENT",
        () => bus.getLast("LEDGER", "votes.x"),
        "getLast outside the stream",
      );
      assert.equal((await readAll(bus, "LEDGER")).length, 0);
      assert.deepEqual(await bus.publish("ledger.x", new Uint8Array(bus.maxPayload)), {
        stream: "LEDGER",
        seq: 1,
        duplicate: false,
      });
    },
  },
  {
    name: "an unacknowledged message is delivered again after the ack wait, with its delivery count",
    async run(fixture) {
      const bus = await fixture.open();
      const ackWaitMs = 500;
      const deliveries: Delivery[] = [];
      const consumer = await bus.consume(
        { stream: "VOTES", durable: "tally", start: "all", ackWaitMs },
        (message) => {
          record(deliveries, message);
          if (text(message.data) === "settled") {
            message.ack();
            message.nak();
          } else if (message.deliveryCount > 1) {
            message.ack();
          }
        },
      );
      await bus.publish("votes.x", bytes("forgotten"));
      await bus.publish("votes.x", bytes("settled"));
      await waitFor("the redelivery", () => deliveries.some((d) => d.deliveryCount === 2));
      await sleep(ackWaitMs * 2);
      await consumer.stop();
      const forgotten = deliveries.filter((d) => d.body === "forgotten");
      const settled = deliveries.filter((d) => d.body === "settled");
      assert.deepEqual(
        forgotten.map((d) => d.deliveryCount),
        [1, 2],
      );
      assert.ok(
        forgotten[1]!.at - forgotten[0]!.at >= ackWaitMs * 0.8,
        "redelivered only after the ack wait",
      );
      assert.deepEqual(
        settled.map((d) => d.deliveryCount),
        [1],
        "an acked message (nak after ack does nothing) is not delivered again",
      );
    },
  },
  {
    name: "nak delivers again at once, or after the given delay",
    async run(fixture) {
      const bus = await fixture.open();
      const delayMs = 600;
      const deliveries: Delivery[] = [];
      const consumer = await bus.consume({ stream: "VOTES", start: "all", ackWaitMs: 20_000 }, (message) => {
        record(deliveries, message);
        if (message.deliveryCount > 1) message.ack();
        else if (text(message.data) === "later") message.nak(delayMs);
        else message.nak();
      });
      await bus.publish("votes.x", bytes("now"));
      await bus.publish("votes.x", bytes("later"));
      await waitFor("both redeliveries", () => deliveries.filter((d) => d.deliveryCount === 2).length === 2);
      await consumer.stop();
      const now = deliveries.filter((d) => d.body === "now");
      const later = deliveries.filter((d) => d.body === "later");
      assert.deepEqual(
        now.map((d) => d.deliveryCount),
        [1, 2],
      );
      assert.deepEqual(
        later.map((d) => d.deliveryCount),
        [1, 2],
      );
      assert.ok(now[1]!.at - now[0]!.at < 5_000, "a plain nak is delivered again well before the ack wait");
      assert.ok(later[1]!.at - later[0]!.at >= delayMs * 0.8, "a delayed nak waits for its delay");
    },
  },
  {
    name: "term stops a message's delivery for good",
    async run(fixture) {
      const bus = await fixture.open();
      const deliveries: Delivery[] = [];
      const consumer = await bus.consume({ stream: "CONTROL", start: "all", ackWaitMs: 300 }, (message) => {
        record(deliveries, message);
        if (text(message.data) === "poison") message.term();
        else message.ack();
      });
      await bus.publish("control.x", bytes("poison"));
      await bus.publish("control.x", bytes("fine"));
      await waitFor("both deliveries", () => deliveries.length >= 2);
      await sleep(1200);
      await consumer.stop();
      assert.deepEqual(
        deliveries.map((d) => [d.body, d.deliveryCount]),
        [
          ["poison", 1],
          ["fine", 1],
        ],
      );
    },
  },
  {
    name: "maxDeliver caps how often a message is delivered",
    async run(fixture) {
      const bus = await fixture.open();
      const deliveries: Delivery[] = [];
      const consumer = await bus.consume(
        { stream: "BANKHASHES", start: "all", ackWaitMs: 300, maxDeliver: 3 },
        (message) => record(deliveries, message),
      );
      await bus.publish("bankhashes.x", bytes("never acked"));
      await waitFor("three deliveries", () => deliveries.length >= 3);
      await sleep(1500);
      await consumer.stop();
      assert.deepEqual(
        deliveries.map((d) => d.deliveryCount),
        [1, 2, 3],
      );
    },
  },
  {
    name: "a handler that throws gets its message again and its error reported",
    async run(fixture) {
      const bus = await fixture.open();
      const deliveries: Delivery[] = [];
      const errors: Error[] = [];
      const consumer = await bus.consume(
        { stream: "LEDGER", start: "all", ackWaitMs: 20_000, onError: (error) => errors.push(error) },
        (message) => {
          record(deliveries, message);
          if (message.deliveryCount === 1) throw new Error("transient failure");
          message.ack();
        },
      );
      await bus.publish("ledger.x", bytes("retry me"));
      await waitFor("the second delivery", () => deliveries.length >= 2, 5_000);
      await consumer.stop();
      assert.deepEqual(
        deliveries.map((d) => d.deliveryCount),
        [1, 2],
      );
      assert.ok(errors.some((error) => error.message === "transient failure"));
    },
  },
  {
    name: "a durable consumer resumes where it left off, on a new connection too",
    async run(fixture) {
      const first = await fixture.open();
      const seen: Delivery[] = [];
      let consumer = await first.consume(
        { stream: "VOTES", durable: "aggregator", start: "all", ackWaitMs: 800 },
        (message) => {
          record(seen, message);
          if (text(message.data) !== "5") message.ack();
        },
      );
      for (let i = 1; i <= 5; i++) await first.publish("votes.x", bytes(String(i)));
      await waitFor("five deliveries", () => seen.length >= 5);
      await consumer.stop();
      for (let i = 6; i <= 8; i++) await first.publish("votes.x", bytes(String(i)));
      await first.close();

      const second = await fixture.open();
      const resumed: Delivery[] = [];
      consumer = await second.consume(
        { stream: "VOTES", durable: "aggregator", start: "all", ackWaitMs: 800 },
        (message) => {
          record(resumed, message);
          message.ack();
        },
      );
      await waitFor("the rest", () => resumed.length >= 4);
      await sleep(500);
      await consumer.stop();
      assert.deepEqual(
        resumed.map((d) => d.body).sort(),
        ["5", "6", "7", "8"],
        "acked messages are not delivered again; the unacked one and the new ones are",
      );
      assert.equal(resumed.find((d) => d.body === "5")?.deliveryCount, 2);
    },
  },
  {
    name: "consumers sharing a durable name share its messages",
    async run(fixture) {
      const one = await fixture.open();
      const two = await fixture.open();
      const count = 300;
      const deliveries: Array<{ who: string; delivery: Delivery }> = [];
      const handler = (who: string) => async (message: DeliveredMessage) => {
        deliveries.push({ who, delivery: toDelivery(message) });
        await sleep(1);
        message.ack();
      };
      const options = {
        stream: "LEDGER" as const,
        durable: "shared",
        start: "all" as const,
        ackWaitMs: 20_000,
      };
      const a = await one.consume(options, handler("one"));
      const b = await two.consume(options, handler("two"));
      for (let i = 0; i < count; i++) void one.publish("ledger.x", bytes(String(i)));
      await waitFor("every message", () => deliveries.length >= count);
      await sleep(300);
      await Promise.all([a.stop(), b.stop()]);
      assert.equal(deliveries.length, count, "each message is delivered once");
      assert.equal(new Set(deliveries.map((d) => d.delivery.seq)).size, count);
      assert.ok(deliveries.some((d) => d.who === "one") && deliveries.some((d) => d.who === "two"));
    },
  },
  {
    name: "consumers start at all, new, a sequence or a time, and filter subjects",
    async run(fixture) {
      const bus = await fixture.open();
      await bus.publish("ledger.a", bytes("a1"));
      await bus.publish("ledger.b", bytes("b1"));
      await sleep(50);
      const middle = new Date();
      await sleep(50);
      await bus.publish("ledger.a", bytes("a2"));
      await bus.publish("ledger.b", bytes("b2"));

      const receive = async (
        options: Parameters<Bus["consume"]>[0],
        expected: number,
        publish?: () => Promise<void>,
      ) => {
        const bodies: string[] = [];
        const consumer = await bus.consume(options, (message) => {
          bodies.push(text(message.data));
          message.ack();
        });
        await publish?.();
        await waitFor(`${expected} messages`, () => bodies.length >= expected);
        await sleep(200);
        await consumer.stop();
        return bodies;
      };
      assert.deepEqual(await receive({ stream: "LEDGER", start: "all" }, 4), ["a1", "b1", "a2", "b2"]);
      assert.deepEqual(await receive({ stream: "LEDGER", start: { sequence: 2 } }, 3), ["b1", "a2", "b2"]);
      assert.deepEqual(await receive({ stream: "LEDGER", start: { time: middle } }, 2), ["a2", "b2"]);
      assert.deepEqual(await receive({ stream: "LEDGER", start: "all", filterSubjects: ["ledger.a"] }, 2), [
        "a1",
        "a2",
      ]);
      assert.deepEqual(
        await receive({ stream: "LEDGER", start: "new" }, 1, async () => {
          await bus.publish("ledger.c", bytes("c1"));
        }),
        ["c1"],
      );
    },
  },
  {
    name: "replay reads in order from a sequence or a time, to the end or live",
    async run(fixture) {
      const bus = await fixture.open();
      for (let i = 1; i <= 5; i++)
        await bus.publish(`ledger.${i % 2 === 0 ? "even" : "odd"}`, bytes(String(i)));
      await sleep(50);
      const middle = new Date();
      await sleep(50);
      for (let i = 6; i <= 8; i++)
        await bus.publish(`ledger.${i % 2 === 0 ? "even" : "odd"}`, bytes(String(i)));

      const bodies = async (options: Parameters<Bus["replay"]>[0]) => {
        const out: string[] = [];
        for await (const message of bus.replay(options)) out.push(text(message.data));
        return out;
      };
      assert.deepEqual(await bodies({ stream: "LEDGER", start: { sequence: 3 }, stopAtEnd: true }), [
        "3",
        "4",
        "5",
        "6",
        "7",
        "8",
      ]);
      assert.deepEqual(await bodies({ stream: "LEDGER", start: { time: middle }, stopAtEnd: true }), [
        "6",
        "7",
        "8",
      ]);
      assert.deepEqual(
        await bodies({ stream: "LEDGER", start: "all", filterSubjects: ["ledger.even"], stopAtEnd: true }),
        ["2", "4", "6", "8"],
      );
      assert.deepEqual(
        await bodies({ stream: "LEDGER", start: "all", filterSubjects: ["ledger.none"], stopAtEnd: true }),
        [],
      );
      assert.deepEqual(await bodies({ stream: "VOTES", start: "all", stopAtEnd: true }), []);

      const live = bus.replay({ stream: "LEDGER", start: { sequence: 8 } });
      const iterator = live[Symbol.asyncIterator]();
      assert.equal(text((await iterator.next()).value!.data), "8");
      const pending = iterator.next();
      await sleep(100);
      await bus.publish("ledger.odd", bytes("9"));
      const ninth = await pending;
      assert.equal(ninth.done, false);
      assert.equal(ninth.value!.seq, 9);
      const afterStop = iterator.next();
      await sleep(50);
      live.stop();
      assert.equal((await afterStop).done, true);
    },
  },
  {
    name: "stream limits discard the oldest messages",
    async run(fixture) {
      const bus = await fixture.open({
        CONTROL: { maxMessages: 3 },
        VOTES: { maxAgeMs: 1_000, duplicateWindowMs: 500 },
      });
      for (let i = 1; i <= 5; i++) await bus.publish(`control.m${i}`, bytes(String(i)));
      assert.deepEqual(
        (await readAll(bus, "CONTROL")).map((m) => m.seq),
        [3, 4, 5],
      );
      assert.equal(await bus.getLast("CONTROL", "control.m1"), undefined);
      assert.equal((await bus.getLast("CONTROL", "control.m4"))?.seq, 4);
      assert.deepEqual(await bus.publish("control.m6", bytes("6")), {
        stream: "CONTROL",
        seq: 6,
        duplicate: false,
      });

      await bus.publish("votes.old", bytes("old"));
      assert.equal((await readAll(bus, "VOTES")).length, 1);
      await sleep(1_800);
      assert.deepEqual(await readAll(bus, "VOTES"), []);
      assert.equal(await bus.getLast("VOTES", "votes.old"), undefined);
      assert.deepEqual(await bus.publish("votes.new", bytes("new")), {
        stream: "VOTES",
        seq: 2,
        duplicate: false,
      });
    },
  },
  {
    name: "getLast returns the newest message on exactly that subject",
    async run(fixture) {
      const bus = await fixture.open();
      await bus.publish("userblocks.h1", bytes("x"));
      await bus.publish("userblocks.h2", bytes("y"));
      await bus.publish("userblocks.h1", bytes("z"));
      const last = await bus.getLast("USERBLOCKS", "userblocks.h1");
      assert.equal(last?.seq, 3);
      assert.equal(last?.subject, "userblocks.h1");
      assert.equal(last?.stream, "USERBLOCKS");
      assert.equal(text(last!.data), "z");
      assert.equal((await bus.getLast("USERBLOCKS", "userblocks.h2"))?.seq, 2);
      assert.equal(await bus.getLast("USERBLOCKS", "userblocks.h3"), undefined);
      assert.equal(await bus.getLast("USERBLOCKS", "userblocks.h1.more"), undefined);
    },
  },
  {
    name: "request/reply answers with headers, and reports handler errors, no responders and timeouts",
    async run(fixture) {
      const server = await fixture.open();
      const client = await fixture.open();
      const echo = await server.serve("proposer.echo", (request) => ({
        data: Uint8Array.from(request.data).reverse(),
        headers: { "X-Seen": request.headers.traceparent ?? "none", "X-Subject": request.subject },
      }));
      const failing = await server.serve("proposer.fail", () => {
        throw new Error("no such block");
      });
      const slow = await server.serve("proposer.slow", async () => {
        await sleep(1000);
        return bytes("late");
      });
      const reply = await client.request("proposer.echo", bytes("abc"), {
        timeoutMs: 2000,
        headers: { traceparent: "00-aa-bb-01" },
      });
      assert.equal(text(reply.data), "cba");
      assert.deepEqual(reply.headers, { "X-Seen": "00-aa-bb-01", "X-Subject": "proposer.echo" });
      await assert.rejects(
        client.request("proposer.fail", bytes(""), { timeoutMs: 2000 }),
        (error: unknown) =>
          error instanceof BusError && error.code === "HANDLER_ERROR" && /no such block/.test(error.message),
      );
      await rejectsWith(
        "NO_RESPONDERS",
        () => client.request("proposer.nobody", bytes(""), { timeoutMs: 2000 }),
        "no server",
      );
      // The slow server answers after a second: a request that waited for it would resolve.
      await rejectsWith(
        "TIMEOUT",
        () => client.request("proposer.slow", bytes(""), { timeoutMs: 200 }),
        "a slow server",
      );
      await rejectsWith(
        "INVALID_ARGUMENT",
        () => client.request("ledger.x", bytes(""), { timeoutMs: 100 }),
        "a request on a stream subject",
      );
      await Promise.all([echo.stop(), failing.stop(), slow.stop()]);
      await rejectsWith(
        "NO_RESPONDERS",
        () => client.request("proposer.echo", bytes(""), { timeoutMs: 2000 }),
        "after stop",
      );
    },
  },
  {
    name: "stopping a consumer waits for the handler in flight and delivers nothing after",
    async run(fixture) {
      const bus = await fixture.open();
      let started = 0;
      let finished = 0;
      const consumer = await bus.consume(
        { stream: "LEDGER", durable: "slow", start: "all", ackWaitMs: 20_000 },
        async (message) => {
          started += 1;
          await sleep(300);
          message.ack();
          finished += 1;
        },
      );
      for (let i = 0; i < 5; i++) await bus.publish("ledger.x", bytes(String(i)));
      await waitFor("the first handler", () => started === 1);
      await consumer.stop();
      assert.equal(finished, started, "stop() resolved only after the handler finished");
      const stoppedAt = started;
      await sleep(400);
      assert.equal(started, stoppedAt, "nothing is delivered after stop()");
    },
  },
  {
    name: "close drains: publishes in flight are stored, handlers finish, then every call fails with CLOSED",
    async run(fixture) {
      const bus = await fixture.open();
      const statuses: BusStatus[] = [];
      bus.onStatus((status) => statuses.push(status));
      let handled = 0;
      let handlerFinished = false;
      await bus.consume(
        { stream: "LEDGER", durable: "drain", start: "all", ackWaitMs: 1_000 },
        async (message) => {
          handled += 1;
          await sleep(300);
          message.ack();
          handlerFinished = true;
        },
      );
      await bus.publish("ledger.x", bytes("first"));
      await waitFor("the handler to start", () => handled === 1);
      const inFlight = Array.from({ length: 200 }, (_, i) => bus.publish("ledger.x", bytes(`late-${i}`)));
      await bus.close();
      assert.equal(handlerFinished, true, "the handler in flight finished before close() resolved");
      const acks = await Promise.all(inFlight);
      assert.equal(new Set(acks.map((ack) => ack.seq)).size, 200);
      assert.equal(bus.ready, false);
      assert.equal(bus.status, "closed");
      assert.deepEqual(statuses, ["closed"]);
      await bus.close();

      const data = bytes("x");
      await rejectsWith("CLOSED", () => bus.publish("ledger.x", data), "publish");
      await rejectsWith("CLOSED", () => bus.consume({ stream: "LEDGER" }, () => undefined), "consume");
      await rejectsWith("CLOSED", () => bus.getLast("LEDGER", "ledger.x"), "getLast");
      await rejectsWith("CLOSED", () => bus.request("svc.x", data, { timeoutMs: 100 }), "request");
      await rejectsWith("CLOSED", () => bus.serve("svc.x", () => data), "serve");
      await rejectsWith("CLOSED", () => bus.ensureStreams(), "ensureStreams");
      await rejectsWith("CLOSED", () => bus.deleteStreams(), "deleteStreams");
      await rejectsWith(
        "CLOSED",
        () => bus.replay({ stream: "LEDGER" })[Symbol.asyncIterator]().next(),
        "replay",
      );

      const reopened = await fixture.open();
      assert.equal((await readAll(reopened, "LEDGER")).length, 201);
      const redelivered: Delivery[] = [];
      const consumer = await reopened.consume(
        { stream: "LEDGER", durable: "drain", ackWaitMs: 1_000 },
        (message) => {
          record(redelivered, message);
          message.ack();
        },
      );
      await waitFor("the rest of the stream", () => redelivered.length >= 200, 15_000);
      await sleep(300);
      await consumer.stop();
      assert.deepEqual(
        [...new Set(redelivered.map((d) => d.seq))].sort((x, y) => x - y),
        Array.from({ length: 200 }, (_, i) => i + 2),
        "the message acked during close is not delivered again; every other one is",
      );
    },
  },
];
