import { createMemoryBus } from "@simd23/bus";
import { createTestnetGenesis } from "@simd23/core";
import { ProposerDirectory } from "@simd23/runtime";
import { createLogger } from "@simd23/service-kit";
import { createMemoryStore } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { intakeMarkerKey } from "./intake-wire.js";
import { type HeldKey, PoolKeys } from "./pool-keys.js";

const seed = new Uint8Array(32).fill(9);
const genesis = createTestnetGenesis({
  clusterName: "pool-keys",
  clusterSeed: seed,
  validators: 1,
  proposerPool: 4,
  startTimeMs: 0n,
});

describe("PoolKeys", () => {
  const store = createMemoryStore({ namespace: "pool-keys" });
  const bus = createMemoryBus({ namespace: "pool-keys" });
  const directory = new ProposerDirectory(store, genesis);
  afterEach(async () => {
    await store.clear();
  });

  function keys(replicaId: string, pending: Map<number, number> = new Map()) {
    const opened: number[] = [];
    const lost: HeldKey[] = [];
    const claimed: HeldKey[] = [];
    const poolKeys = new PoolKeys({
      genesis,
      clusterSeed: seed,
      bus,
      store,
      directory,
      logger: createLogger({ role: "proposer", replica: 0, level: "silent" }),
      replicaId,
      advertiseAddress: `${replicaId}:1`,
      leaseMs: 60_000,
      quietBeforeReleaseMs: 50,
      openIntake: async (held) => {
        opened.push(held.entry.poolIndex);
      },
      pendingOf: (poolIndex) => pending.get(poolIndex) ?? 0,
      onLost: (held) => lost.push(held),
      onOwnClaimed: (held) => claimed.push(held),
    });
    return { poolKeys, opened, lost, claimed };
  }

  it("claims the lowest free key as its own, marks it, and opens its intake", async () => {
    const a = keys("a");
    const b = keys("b");
    await a.poolKeys.claimOwn(() => false);
    await b.poolKeys.claimOwn(() => false);
    expect([a.poolKeys.own?.entry.poolIndex, b.poolKeys.own?.entry.poolIndex]).toEqual([0, 1]);
    expect([a.opened, b.opened]).toEqual([[0], [1]]);
    expect(await store.get(intakeMarkerKey(0))).toBeDefined();
    expect(a.poolKeys.own?.name).toBe("proposer-0");
  });

  it("gives up a key whose lease another replica now holds", async () => {
    const a = keys("a");
    await a.poolKeys.claimOwn(() => false);
    const held = a.poolKeys.own!;
    // The lease expired while a was stalled, and b took the key.
    await directory.release(held.entry);
    await keys("b").poolKeys.claimOwn(() => false);
    await a.poolKeys.renew();
    expect(a.lost).toEqual([held]);
    expect(a.poolKeys.own).toBeUndefined();
    await a.poolKeys.claimOwn(() => false);
    expect(a.poolKeys.own?.entry.poolIndex).toBe(1);
  });

  it("adopts a marked key nobody holds, and releases it once nothing came for a while and nothing is pending", async () => {
    const pending = new Map([[2, 1]]);
    const a = keys("a", pending);
    await a.poolKeys.claimOwn(() => false);
    await store.set(intakeMarkerKey(2), 1);
    await a.poolKeys.scan();
    expect([...a.poolKeys.adopted.keys()]).toEqual([2]);
    expect(a.opened).toEqual([0, 2]);
    expect(a.poolKeys.identities().length).toBe(2);
    await new Promise((resolve) => setTimeout(resolve, 80));
    await a.poolKeys.scan();
    expect([...a.poolKeys.adopted.keys()]).toEqual([2]);
    pending.set(2, 0);
    await a.poolKeys.scan();
    expect([...a.poolKeys.adopted.keys()]).toEqual([]);
    expect(await store.get(intakeMarkerKey(2))).toBeUndefined();
    expect((await directory.list()).map((entry) => entry.poolIndex)).toEqual([0]);
  });

  it("takes an adopted key as its own when it needs one, intake and all", async () => {
    const a = keys("a", new Map([[0, 3]]));
    await store.set(intakeMarkerKey(0), 1);
    await keys("b").poolKeys.claimOwn(() => false);
    // b holds key 0 now; once it is gone, a (which has no key of its own yet) adopts it first.
    await directory.release((await directory.list())[0]!);
    await a.poolKeys.scan();
    expect([...a.poolKeys.adopted.keys()]).toEqual([0]);
    const adopted = a.poolKeys.adopted.get(0)!;
    await a.poolKeys.claimOwn(() => false);
    expect(a.poolKeys.own).toBe(adopted);
    expect(adopted.own).toBe(true);
    expect(a.poolKeys.adopted.size).toBe(0);
    expect(a.opened).toEqual([0]);
  });

  it("gives every key back on shutdown, keeping the marker where items are left", async () => {
    const a = keys("a", new Map([[0, 2]]));
    await a.poolKeys.claimOwn(() => false);
    await store.set(intakeMarkerKey(3), 1);
    await a.poolKeys.scan();
    expect(await a.poolKeys.releaseAll()).toEqual([
      { poolIndex: 0, left: 2 },
      { poolIndex: 3, left: 0 },
    ]);
    expect(await directory.list()).toEqual([]);
    expect(await store.get(intakeMarkerKey(0))).toBeDefined();
    expect(await store.get(intakeMarkerKey(3))).toBeUndefined();
  });
});
