import { createTestnetGenesis, stakeTableOf } from "@simd23/core";
import { describe, expect, it } from "vitest";
import { SupermajorityRoot } from "./supermajority-root.js";

const genesis = createTestnetGenesis({
  clusterName: "supermajority-root",
  clusterSeed: new Uint8Array(32).fill(4),
  startTimeMs: 0n,
  validators: 4,
  stake: [4n, 3n, 2n, 1n],
  proposerPool: 1,
});

describe("SupermajorityRoot", () => {
  it("is the newest root held by towers of at least 2/3 of stake, from each validator's newest vote", () => {
    const roots = new SupermajorityRoot(stakeTableOf(genesis));
    expect(roots.root).toBe(0);
    roots.offer(0, 10, 5);
    roots.offer(1, 10, 7);
    // 3 of 10 hold 7, 7 of 10 hold 5 or newer.
    expect(roots.root).toBe(5);
    roots.offer(2, 11, 9);
    expect(roots.root).toBe(5);
    // An older vote's root does not count; a vote without a root changes nothing.
    roots.offer(0, 9, 20);
    roots.offer(3, 12, null);
    expect(roots.root).toBe(5);
    // 4 + 2 of 10 hold 9 (not 2/3), with 3 more holding 7.
    roots.offer(0, 12, 9);
    expect(roots.root).toBe(7);
    roots.offer(1, 13, 9);
    expect(roots.root).toBe(9);
  });
});
