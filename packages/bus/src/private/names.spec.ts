import { describe, expect, it } from "vitest";
import { BusError } from "../errors.js";
import {
  checkFilterSubjects,
  checkHeaders,
  checkMsgId,
  checkNamespace,
  checkPublishSubject,
  checkServiceSubject,
  checkStart,
  subjectMatches,
} from "./names.js";

function code(action: () => unknown): string | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    return error instanceof BusError ? error.code : "not a BusError";
  }
}

describe("subject matching", () => {
  it.each([
    ["ledger.>", "ledger.a", true],
    ["ledger.>", "ledger.a.b", true],
    ["ledger.>", "ledger", false],
    ["ledger.*", "ledger.a", true],
    ["ledger.*", "ledger.a.b", false],
    ["ledger.*.c", "ledger.a.c", true],
    ["ledger.a", "ledger.a", true],
    ["ledger.a", "ledger.ab", false],
    ["ledger.a", "ledger.a.b", false],
    ["*.a", "votes.a", true],
  ])("%s matches %s: %s", (pattern, subject, expected) => {
    expect(subjectMatches(pattern, subject)).toBe(expected);
  });
});

describe("argument checks", () => {
  it("accepts lowercase namespaces only, so stream names cannot collide", () => {
    expect(checkNamespace("devnet-1_a")).toBe("devnet-1_a");
    for (const bad of ["", "Dev", "a.b", "-a", "a b", "x".repeat(49)]) {
      expect(code(() => checkNamespace(bad))).toBe("INVALID_ARGUMENT");
    }
  });

  it("maps a publish subject to the stream that stores it", () => {
    expect(checkPublishSubject("userblocks.3f2a")).toBe("USERBLOCKS");
    expect(checkPublishSubject("control.halt")).toBe("CONTROL");
    expect(code(() => checkPublishSubject("rpc.x"))).toBe("STREAM_NOT_FOUND");
    expect(code(() => checkPublishSubject("ledger.>"))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkPublishSubject("ledger."))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkPublishSubject("ledger.é"))).toBe("INVALID_ARGUMENT");
  });

  it("keeps filters inside their stream", () => {
    expect(checkFilterSubjects("VOTES", ["votes.*", "votes.x.>"])).toEqual(["votes.*", "votes.x.>"]);
    expect(checkFilterSubjects("VOTES", undefined)).toEqual([]);
    expect(code(() => checkFilterSubjects("VOTES", ["ledger.>"]))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkFilterSubjects("VOTES", ["votes.>.x"]))).toBe("INVALID_ARGUMENT");
  });

  it("keeps request subjects out of the streams", () => {
    expect(code(() => checkServiceSubject("proposer.getUserBlock", false))).toBeUndefined();
    expect(code(() => checkServiceSubject("proposer.*", true))).toBeUndefined();
    expect(code(() => checkServiceSubject("proposer.*", false))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkServiceSubject("ledger.get", false))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkServiceSubject(">", true))).toBe("INVALID_ARGUMENT");
  });

  it("accepts one-line string headers and refuses JetStream's own", () => {
    expect(checkHeaders({ traceparent: "00-ab-cd-01", "X-Empty": "" })).toBeDefined();
    expect(code(() => checkHeaders({ "Nats-Msg-Id": "x" }))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkHeaders({ "nats-anything": "x" }))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkHeaders({ "a:b": "x" }))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkHeaders({ a: "x\r\ny: z" }))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkHeaders({ a: " padded" }))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkHeaders({ a: "x".repeat(5000) }))).toBe("INVALID_ARGUMENT");
  });

  it("accepts printable msgIds up to 256 characters", () => {
    expect(code(() => checkMsgId("slot-42/leader-3"))).toBeUndefined();
    expect(code(() => checkMsgId("a b"))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkMsgId("x".repeat(257)))).toBe("INVALID_ARGUMENT");
  });

  it("accepts the four start positions", () => {
    expect(checkStart(undefined)).toBe("all");
    expect(checkStart({ sequence: 5 })).toEqual({ sequence: 5 });
    expect(code(() => checkStart({ sequence: 0 }))).toBe("INVALID_ARGUMENT");
    expect(code(() => checkStart({ time: new Date(Number.NaN) }))).toBe("INVALID_ARGUMENT");
  });
});
