import { feePayerRouteIndex, toHex } from "@simd23/core";
import type { proposer } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import { ConnectionError, RpcError } from "../errors.js";
import { ProposerRouter } from "./routing.js";

const key = (byte: number) => new Uint8Array(32).fill(byte);
/** A fee payer whose top 32 bits route it to index `i` of an active set of `n`. */
const payerFor = (i: number, n: number) => {
  const payer = new Uint8Array(32);
  new DataView(payer.buffer).setUint32(0, Math.floor(((i + 0.5) * 2 ** 32) / n), false);
  expect(feePayerRouteIndex(payer, n)).toBe(i);
  return payer;
};

const status = (
  identity: Uint8Array,
  active: Uint8Array[],
  userBlockSlot = 10,
): proposer.GetProposerStatusResponse => ({
  identity,
  userBlockSlot,
  scheduled: true,
  activeProposers: active,
  queueDepth: 0,
  halted: false,
});

describe("routing a transaction to the proposer of its fee payer", () => {
  const [A, B, C] = [key(1), key(2), key(3)];
  const addresses = ["a:1", "b:1", "c:1"];
  const identities: Record<string, Uint8Array> = { "a:1": A, "b:1": B, "c:1": C };

  it("puts the routed proposer first, found by identity, then the others in order", async () => {
    // The active set is in schedule order, which is not the order of the endpoints.
    const active = [C, A, B];
    const router = new ProposerRouter(addresses, async (a) => status(identities[a]!, active), 1_000);
    await router.ensureFresh();
    expect(router.candidates(payerFor(0, 3))).toEqual(["c:1", "a:1", "b:1"]);
    expect(router.candidates(payerFor(1, 3))).toEqual(["a:1", "b:1", "c:1"]);
    expect(router.candidates(payerFor(2, 3))).toEqual(["b:1", "a:1", "c:1"]);
    expect(toHex(router.identityOf("c:1")!)).toBe(toHex(C));
  });

  it("sends to any endpoint when the routed proposer is not one of them (it forwards)", async () => {
    const stranger = key(9);
    const router = new ProposerRouter(addresses, async (a) => status(identities[a]!, [stranger]), 1_000);
    await router.refresh();
    expect(router.routedAddress(payerFor(0, 1))).toBeUndefined();
    expect(router.candidates(payerFor(0, 1))).toEqual(addresses);
  });

  it("takes the active set reported for the newest UserBlockSlot and ignores empty ones", async () => {
    const reports: Record<string, proposer.GetProposerStatusResponse> = {
      "a:1": status(A, [A, B], 20),
      "b:1": status(B, [B, C], 21),
      "c:1": status(C, [], 99),
    };
    const router = new ProposerRouter(addresses, async (a) => reports[a]!, 1_000);
    await router.refresh();
    expect(router.activeProposers.map(toHex)).toEqual([B, C].map(toHex));
    reports["a:1"] = status(A, [A], 15);
    reports["b:1"] = status(B, [A], 15);
    await router.refresh();
    expect(router.activeProposers.map(toHex)).toEqual([B, C].map(toHex));
  });

  it("tries unreachable endpoints last, and again once they answer", async () => {
    let down = true;
    const router = new ProposerRouter(
      addresses,
      async (a) => {
        if (a === "a:1" && down) throw new ConnectionError(a, "connection refused");
        return status(identities[a]!, [A, B, C]);
      },
      1_000,
    );
    await router.refresh();
    expect(router.isUnreachable("a:1")).toBe(true);
    // a:1 answered before: its identity is kept, but it goes last while it does not answer.
    expect(router.candidates(payerFor(0, 3))).toEqual(["b:1", "c:1", "a:1"]);
    down = false;
    await router.refresh();
    expect(router.candidates(payerFor(0, 3))).toEqual(["a:1", "b:1", "c:1"]);
    router.markUnreachable("b:1");
    expect(router.candidates(payerFor(1, 3))).toEqual(["a:1", "c:1", "b:1"]);
  });

  it("does not mark an endpoint unreachable for an answer that is an error", async () => {
    const router = new ProposerRouter(
      ["a:1"],
      async (a) => {
        throw new RpcError(a, "GetProposerStatus", 13, "INTERNAL", "boom", undefined);
      },
      1_000,
    );
    await router.refresh();
    expect(router.isUnreachable("a:1")).toBe(false);
    expect(router.candidates(key(5))).toEqual(["a:1"]);
  });

  it("refreshes when the view is older than the interval, sharing one round between callers", async () => {
    let calls = 0;
    let now = 0;
    const router = new ProposerRouter(
      ["a:1"],
      async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return status(A, [A]);
      },
      1_000,
      () => now,
    );
    await Promise.all([router.ensureFresh(), router.ensureFresh(), router.refresh()]);
    expect(calls).toBe(1);
    now = 999;
    await router.ensureFresh();
    expect(calls).toBe(1);
    now = 1_000;
    await router.ensureFresh();
    expect(calls).toBe(2);
  });

  it("keeps one endpoint per identity when a pool key moves to another address", async () => {
    const reports: Record<string, proposer.GetProposerStatusResponse> = {
      "a:1": status(A, [A, B]),
      "b:1": status(B, [A, B]),
    };
    const router = new ProposerRouter(["a:1", "b:1"], async (a) => reports[a]!, 1_000);
    await router.refresh();
    reports["a:1"] = status(C, [C, B]);
    reports["b:1"] = status(A, [C, B]);
    await router.refresh();
    expect(router.routedAddress(payerFor(0, 2))).toBe("a:1");
    expect(router.routedAddress(payerFor(1, 2))).toBeUndefined();
  });
});
