import { randomBytes } from "node:crypto";
import { createTestnetGenesis, toBase58 } from "@simd23/core";
import { createMemoryDatabase, createMemoryStore } from "@simd23/store";
import { describe, expect, it } from "vitest";
import { ProposerDirectory } from "./proposer-directory.js";

const genesis = createTestnetGenesis({
  clusterName: "directory",
  clusterSeed: new Uint8Array(32).fill(4),
  startTimeMs: 0n,
  validators: 1,
  proposerPool: 3,
});

describe("ProposerDirectory", () => {
  it("gives each replica its own pool key, lets a lease lapse, and serves addresses", async () => {
    let now = 1_000;
    const database = createMemoryDatabase({ now: () => now });
    const namespace = `dir-${randomBytes(4).toString("hex")}`;
    const directory = new ProposerDirectory(createMemoryStore({ namespace, database }), genesis);
    const a = await directory.claim("replica-a", "10.0.0.1:50051", 5_000);
    const b = await directory.claim("replica-b", "10.0.0.2:50051", 5_000, 2);
    const c = await directory.claim("replica-c", "10.0.0.3:50051", 5_000);
    expect([a?.poolIndex, b?.poolIndex, c?.poolIndex]).toEqual([0, 2, 1]);
    expect(await directory.claim("replica-d", "10.0.0.4:50051", 5_000)).toBeUndefined();
    expect(a?.identity).toBe(toBase58(genesis.proposerPool[0]!.identity));
    expect(await directory.addressOf(genesis.proposerPool[2]!.identity)).toBe("10.0.0.2:50051");

    now += 4_000;
    expect(await directory.renew(a!, 5_000)).toBe(true);
    now += 2_000;
    // b and c lapsed; a renewed. A new replica takes the lowest free key.
    expect((await directory.list()).map((e) => e.replica)).toEqual(["replica-a"]);
    expect((await directory.claim("replica-d", "10.0.0.4:50051", 5_000))?.poolIndex).toBe(1);
    expect(await directory.renew(c!, 5_000)).toBe(false);
    expect(await directory.release(a!)).toBe(true);
    expect(await directory.addressOf(genesis.proposerPool[0]!.identity)).toBeUndefined();
  });
});
