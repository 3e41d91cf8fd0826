import { randomBytes } from "node:crypto";
import { createMemoryBus } from "@simd23/bus";
import { createTestnetGenesis, deriveKeypair, EnvelopeKind, KEY_ROLES } from "@simd23/core";
import { control } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { HaltWatch } from "./halt-watch.js";
import { SignedPublisher } from "./publisher.js";
import { subjects } from "./subjects.js";

const seed = new Uint8Array(32).fill(6);
const genesis = createTestnetGenesis({
  clusterName: "halt",
  clusterSeed: seed,
  startTimeMs: 0n,
  validators: 2,
  proposerPool: 1,
});

describe("HaltWatch", () => {
  it("sees a verifier-signed halt published before it started and reports forgeries without halting", async () => {
    const bus = createMemoryBus({ namespace: `halt-${randomBytes(4).toString("hex")}` });
    const halt: control.Halt = {
      slot: 7,
      tally: { matched: 1n, mismatched: 2n, missing: 0n, total: 3n },
      evidence: [],
      reason: "more than 1/3 of stake computed a wrong BankHash",
      haltedAtMs: 123n,
    };
    const body = control.Halt.encode(halt).finish();
    const validator = new SignedPublisher(bus, deriveKeypair(seed, KEY_ROLES.validator, 0));
    await validator.publish(EnvelopeKind.KIND_HALT, subjects.halt, body);
    await bus.publish(subjects.halt, new Uint8Array([9, 9, 9]));
    const verifier = new SignedPublisher(bus, deriveKeypair(seed, KEY_ROLES.verifier, 0));
    await verifier.publish(EnvelopeKind.KIND_HALT, subjects.halt, body);

    const seen: control.Halt[] = [];
    const forgeries: string[] = [];
    const watch = new HaltWatch({
      bus,
      genesis,
      onHalt: (h) => seen.push(h),
      onForgery: (d) => forgeries.push(d),
    });
    watch.start();
    await expect.poll(() => seen.length).toBe(1);
    expect(seen[0]).toEqual(halt);
    expect(watch.halt?.slot).toBe(7);
    expect(forgeries).toHaveLength(2);
    expect(forgeries[0]).toMatch(/verifier/);
    await watch.stop();
    await bus.close();
  });
});
