import { randomUUID } from "node:crypto";
import {
  bigintCodec,
  connectRedisStore,
  createMemoryStore,
  jsonCodec,
  recordKey,
  type Store,
  stringCodec,
  valueKey,
} from "@simd23/store";
import { type Figure, measureRate, type Suite, type SuiteContext } from "../harness.js";

// The vote aggregator's hot write: per signature, set the time a level was first reached.
const statusFields = { received: bigintCodec, proposed: bigintCodec, droppedReason: stringCodec };
const batchSize = 1_000;
const ttlMs = 60_000;

let sequence = 0;
const nextStatusKey = () => recordKey(`bench/status/${sequence++}`, statusFields);

async function awaitedWrites(store: Store): Promise<number> {
  for (let i = 0; i < 100; i++) await store.setFieldsIfAbsent(nextStatusKey(), { received: 1n }, { ttlMs });
  return 100;
}

async function batchedWrites(store: Store): Promise<number> {
  const batch = store.batch();
  for (let i = 0; i < batchSize; i++) batch.setFieldsIfAbsent(nextStatusKey(), { received: 1n }, { ttlMs });
  await batch.commit();
  return batchSize;
}

const suite: Suite = {
  name: "store",
  needs: ["redis"],
  description:
    "Status-index writes (per-field set-if-absent with TTL, one Lua call each) through @simd23/store: " +
    `batches of ${batchSize} in one round trip against one awaited round trip per write, on the same Redis in ` +
    "the same run; the atomic update (read, then compare-and-set) against a plain awaited set; the in-process " +
    "store against Redis for the same batched write.",
  async run(context: SuiteContext): Promise<Figure[]> {
    const url = context.redisUrl;
    const namespace = `simd23-bench/store/${randomUUID()}`;
    const redis = await connectRedisStore({ url, namespace });
    const memory = createMemoryStore({ namespace });
    try {
      const awaited = await measureRate(() => awaitedWrites(redis));
      const batched = await measureRate(() => batchedWrites(redis));
      await redis.clear();

      const plain = valueKey("bench/plain", jsonCodec<{ count: number }>());
      const counted = valueKey("bench/update", jsonCodec<{ count: number }>());
      const sets = await measureRate(async () => {
        for (let i = 0; i < 100; i++) await redis.set(plain, { count: i });
        return 100;
      });
      const updates = await measureRate(async () => {
        for (let i = 0; i < 100; i++)
          await redis.update(counted, (current) => ({ count: (current?.count ?? 0) + 1 }));
        return 100;
      });

      const inProcess = await measureRate(() => batchedWrites(memory));
      return [
        {
          name: `Redis status writes, batches of ${batchSize}`,
          value: batched,
          unit: "writes/s",
          baseline: { name: "one awaited write at a time", value: awaited },
        },
        {
          name: "Redis atomic update, awaited",
          value: updates,
          unit: "updates/s",
          baseline: { name: "plain awaited set", value: sets },
          note: "an update is two round trips: a read, then a compare-and-set script",
        },
        {
          name: `in-process status writes, batches of ${batchSize}`,
          value: inProcess,
          unit: "writes/s",
          baseline: { name: "Redis, same batches", value: batched },
        },
      ];
    } finally {
      await redis.clear();
      await redis.close();
      await memory.close();
    }
  },
};

export default suite;
