import { randomBytes } from "node:crypto";
import {
  createGenesisBank,
  createTestnetGenesis,
  decodeBankSnapshot,
  encodeBankSnapshot,
  sha256,
  utf8,
} from "@simd23/core";
import { connectRedisStore, createMemoryStore, type Store } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { SnapshotStore } from "./snapshot-store.js";

const genesis = createTestnetGenesis({
  clusterName: "snapshot-store",
  clusterSeed: sha256(utf8("simd23/snapshot-store-spec")),
  startTimeMs: 0n,
  validators: 2,
  proposerPool: 1,
});
const validator = genesis.validators[0]!.identity;
const redisUrl = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";
const adapters: [string, (namespace: string) => Promise<Store>][] = [
  ["in-process", async (namespace) => createMemoryStore({ namespace })],
  ["Redis", (namespace) => connectRedisStore({ url: redisUrl, namespace })],
];

describe.each(adapters)("SnapshotStore on the %s store", (_, open) => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.clear();
    await store?.close();
  });

  it("keeps the newest snapshot of each validator whole, and nothing for others", async () => {
    store = await open(`snapshot-${randomBytes(4).toString("hex")}`);
    const snapshots = new SnapshotStore(store);
    expect(await snapshots.load(validator)).toBeUndefined();
    const bytes = encodeBankSnapshot(createGenesisBank(genesis));
    await snapshots.save(validator, {
      bytes: new Uint8Array([1]),
      slot: 1,
      ledgerSequence: 1,
      writtenAtMs: 1,
    });
    await snapshots.save(validator, {
      bytes,
      slot: 0,
      ledgerSequence: 2 ** 40,
      writtenAtMs: 1_700_000_000_000,
    });
    const loaded = await snapshots.load(validator);
    expect(loaded).toEqual({ bytes, slot: 0, ledgerSequence: 2 ** 40, writtenAtMs: 1_700_000_000_000 });
    expect(decodeBankSnapshot(loaded!.bytes, genesis).bankHash).toEqual(createGenesisBank(genesis).bankHash);
    expect(await snapshots.load(genesis.validators[1]!.identity)).toBeUndefined();
    expect(await snapshots.delete(validator)).toBe(true);
    expect(await snapshots.load(validator)).toBeUndefined();
  });
});
