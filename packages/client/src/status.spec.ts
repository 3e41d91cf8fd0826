import { tx, voteaggregator } from "@simd23/proto";
import { describe, expect, it } from "vitest";
import {
  executionStatusName,
  LEVEL_NAMES,
  levelFromName,
  levelName,
  StatusTracker,
  signatureUpdateOf,
} from "./status.js";

const L = voteaggregator.ConfirmationLevel;
const signature = new Uint8Array(64).fill(3);
const result = (status: tx.ExecutionStatus) => ({
  signature,
  status,
  fee: 5_000n,
  slot: 9,
  userBlockSlot: 18,
  proposer: new Uint8Array(32).fill(1),
});
const update = (
  level: voteaggregator.ConfirmationLevel,
  timeMs: number,
  extra: Partial<voteaggregator.SubscribeSignaturesResponse> = {},
): voteaggregator.SubscribeSignaturesResponse => ({
  signature,
  reached: { level, timeMs: BigInt(timeMs) },
  result: undefined,
  droppedReason: "",
  ...extra,
});

describe("execution result names", () => {
  it("names every status Solana style: ok, or the PascalCase error", () => {
    const names = Object.values(tx.ExecutionStatus)
      .filter((v): v is tx.ExecutionStatus => typeof v === "number")
      .map((status) => [tx.executionStatusToJSON(status), executionStatusName(status)]);
    expect(Object.fromEntries(names)).toEqual({
      EXECUTION_STATUS_UNSPECIFIED: "Unknown(0)",
      EXECUTION_STATUS_OK: "ok",
      EXECUTION_STATUS_DUPLICATE: "Duplicate",
      EXECUTION_STATUS_INSUFFICIENT_FUNDS_FOR_FEE: "InsufficientFundsForFee",
      EXECUTION_STATUS_BLOCKHASH_NOT_FOUND: "BlockhashNotFound",
      EXECUTION_STATUS_SIGNATURE_FAILURE: "SignatureFailure",
      EXECUTION_STATUS_INSUFFICIENT_FUNDS: "InsufficientFunds",
      EXECUTION_STATUS_COMPUTE_BUDGET_EXCEEDED: "ComputeBudgetExceeded",
      EXECUTION_STATUS_INVALID_TRANSACTION: "InvalidTransaction",
      EXECUTION_STATUS_BUNDLE_ROLLED_BACK: "BundleRolledBack",
      UNRECOGNIZED: "Unknown(-1)",
    });
    expect(executionStatusName(42 as tx.ExecutionStatus)).toBe("Unknown(42)");
  });

  it("maps level names to the wire levels and back", () => {
    for (const name of LEVEL_NAMES) expect(levelName(levelFromName(name))).toBe(name);
    expect(levelFromName("received")).toBe(L.CONFIRMATION_LEVEL_RECEIVED);
    expect(levelFromName("dropped")).toBe(L.CONFIRMATION_LEVEL_DROPPED);
    expect(levelName(L.CONFIRMATION_LEVEL_UNSPECIFIED)).toBeUndefined();
    expect(levelName(L.UNRECOGNIZED)).toBeUndefined();
  });
});

describe("following one signature's status", () => {
  it("fills in skipped levels with the time the later one was learned, and keeps times monotone", () => {
    const tracker = new StatusTracker("S");
    tracker.applyUpdate(update(L.CONFIRMATION_LEVEL_RECEIVED, 100));
    tracker.applyUpdate(update(L.CONFIRMATION_LEVEL_RECORDED, 300));
    tracker.applyUpdate(update(L.CONFIRMATION_LEVEL_PROPOSED, 200));
    tracker.applyUpdate(update(L.CONFIRMATION_LEVEL_OPTIMISTIC, 250));
    expect(tracker.current).toMatchObject({
      found: true,
      level: "optimistic",
      levels: { received: 100, proposed: 300, recorded: 300, optimistic: 300 },
      result: null,
      droppedReason: null,
    });
    expect(Object.keys(tracker.current.levels)).toEqual(["received", "proposed", "recorded", "optimistic"]);
  });

  it("attaches the first result once executed, from a poll or the stream", () => {
    const tracker = new StatusTracker("S");
    // A result before the level waits for the aggregator to report the level.
    tracker.applyUpdate({
      ...update(L.CONFIRMATION_LEVEL_RECEIVED, 1),
      result: result(tx.ExecutionStatus.EXECUTION_STATUS_OK),
    });
    expect(tracker.current.result).toBeNull();
    tracker.applyStatus({
      signature,
      found: true,
      levels: [
        { level: L.CONFIRMATION_LEVEL_RECEIVED, timeMs: 1n },
        { level: L.CONFIRMATION_LEVEL_EXECUTED, timeMs: 50n },
      ],
      result: result(tx.ExecutionStatus.EXECUTION_STATUS_INSUFFICIENT_FUNDS),
      droppedReason: "",
    });
    tracker.applyUpdate({
      ...update(L.CONFIRMATION_LEVEL_FINALIZED, 90),
      result: result(tx.ExecutionStatus.EXECUTION_STATUS_OK),
    });
    const status = tracker.current;
    expect(status.level).toBe("finalized");
    expect(status.levels).toEqual({
      received: 1,
      proposed: 50,
      recorded: 50,
      optimistic: 50,
      executed: 50,
      finalized: 90,
    });
    expect(status.result).toMatchObject({
      ok: false,
      status: "InsufficientFunds",
      fee: 5_000n,
      slot: 9,
      userBlockSlot: 18,
    });
    expect(status.result?.proposer).toMatch(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
  });

  it("ends at dropped, with its reason, and changes no more", () => {
    const tracker = new StatusTracker("S");
    tracker.applyUpdate(update(L.CONFIRMATION_LEVEL_RECEIVED, 10));
    tracker.applyUpdate(update(L.CONFIRMATION_LEVEL_DROPPED, 20, { droppedReason: "late UserBlock" }));
    tracker.applyUpdate(
      update(L.CONFIRMATION_LEVEL_EXECUTED, 30, { result: result(tx.ExecutionStatus.EXECUTION_STATUS_OK) }),
    );
    expect(tracker.current).toMatchObject({
      level: "dropped",
      levels: { received: 10, dropped: 20 },
      droppedReason: "late UserBlock",
      result: null,
    });
    expect(tracker.droppedReason).toBe("late UserBlock");
  });

  it("reads not-found as found: false with no levels", () => {
    const tracker = new StatusTracker("S");
    tracker.applyStatus({ signature, found: false, levels: [], result: undefined, droppedReason: "" });
    expect(tracker.current).toEqual({
      signature: "S",
      found: false,
      level: null,
      levels: {},
      result: null,
      droppedReason: null,
    });
  });

  it("merges statuses in the SDK's own form the same way", () => {
    const tracker = new StatusTracker("S");
    tracker.applyTransactionStatus({
      signature: "S",
      found: true,
      level: "executed",
      levels: { received: 5, executed: 8 },
      result: { ok: true, status: "ok", fee: 1n, slot: 1, userBlockSlot: 2, proposer: "" },
      droppedReason: null,
    });
    expect(tracker.level).toBe("executed");
    expect(tracker.timeOf("recorded")).toBe(8);
    expect(tracker.executionResult?.status).toBe("ok");
  });

  it("decodes stream updates for subscribers", () => {
    expect(signatureUpdateOf(update(L.CONFIRMATION_LEVEL_DROPPED, 7))).toMatchObject({
      level: "dropped",
      timeMs: 7,
      droppedReason: "dropped",
    });
    expect(signatureUpdateOf({ ...update(L.CONFIRMATION_LEVEL_UNSPECIFIED, 1) })).toBeNull();
    expect(
      signatureUpdateOf({ signature, reached: undefined, result: undefined, droppedReason: "" }),
    ).toBeNull();
  });
});
