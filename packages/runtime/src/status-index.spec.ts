import { randomBytes } from "node:crypto";
import { ConfirmationLevel, currentLevel } from "@simd23/core";
import { tx } from "@simd23/proto";
import { connectRedisStore, createMemoryStore, type Store } from "@simd23/store";
import { afterEach, describe, expect, it } from "vitest";
import { StatusIndex, toStatus } from "./status-index.js";

const redisUrl = process.env.SIMD23_REDIS_URL ?? "redis://127.0.0.1:6379";
const stores: [string, () => Promise<Store>][] = [
  ["in-process", async () => createMemoryStore({ namespace: `status-${randomBytes(4).toString("hex")}` })],
  [
    "Redis",
    () => connectRedisStore({ url: redisUrl, namespace: `status-${randomBytes(4).toString("hex")}` }),
  ],
];

describe.each(stores)("StatusIndex on the %s store", (_, open) => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.clear();
    await store?.close();
  });

  it("keeps the first time of each level, fills implied levels, and attaches the result", async () => {
    store = await open();
    const index = new StatusIndex({ store });
    const signature = new Uint8Array(randomBytes(64));
    index.reached(signature, "received", 1_000);
    index.reached(signature, "received", 5_000);
    index.reached(signature, "recorded", 1_300);
    const result = {
      signature,
      status: tx.ExecutionStatus.EXECUTION_STATUS_OK,
      fee: 5_000n,
      slot: 3,
      userBlockSlot: 5,
      proposer: new Uint8Array(32),
    };
    index.executed(signature, 2_000, result);
    await index.flush();
    const [status] = await index.get([signature]);
    expect(status!.levels.map((l) => [l.level, Number(l.timeMs)])).toEqual([
      [ConfirmationLevel.CONFIRMATION_LEVEL_RECEIVED, 1_000],
      [ConfirmationLevel.CONFIRMATION_LEVEL_PROPOSED, 1_300],
      [ConfirmationLevel.CONFIRMATION_LEVEL_RECORDED, 1_300],
      [ConfirmationLevel.CONFIRMATION_LEVEL_OPTIMISTIC, 2_000],
      [ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED, 2_000],
    ]);
    expect(status!.result).toEqual(result);
  });

  it("reports unknown signatures as unseen and a drop with its reason", async () => {
    store = await open();
    const index = new StatusIndex({ store, batchSize: 2 });
    const dropped = randomBytes(64);
    index.reached(dropped, "received", 10);
    index.dropped(dropped, 20, "BlockhashExpired");
    await index.flush();
    const [unknown, gone] = await index.get([randomBytes(64), dropped]);
    expect(unknown!.levels).toEqual([]);
    expect(currentLevel(gone!)).toBe(ConfirmationLevel.CONFIRMATION_LEVEL_DROPPED);
    expect(gone!.droppedReason).toBe("BlockhashExpired");
  });
});

describe("toStatus", () => {
  it("ignores a drop once the transaction executed", () => {
    const status = toStatus({ received: 1, executed: 3, dropped: 2, droppedReason: "late" });
    expect(currentLevel(status)).toBe(ConfirmationLevel.CONFIRMATION_LEVEL_EXECUTED);
    expect(status.droppedReason).toBeNull();
  });
});
