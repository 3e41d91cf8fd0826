import { describe, expect, it } from "vitest";
import { parseAckSubject } from "./nats-consumer.js";
import { parseAck } from "./publisher.js";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("publish acks", () => {
  it("reads nats-server 2.9's hand-written acks", () => {
    expect(parseAck(bytes('{"stream":"SIMD23_A_LEDGER", "seq":17}'))).toEqual({
      stream: "SIMD23_A_LEDGER",
      seq: 17,
      duplicate: false,
    });
    expect(parseAck(bytes('{"stream":"S", "seq":1,"duplicate": true}'))).toEqual({
      stream: "S",
      seq: 1,
      duplicate: true,
    });
  });

  it("reads JSON-encoded acks with a domain", () => {
    expect(
      parseAck(Buffer.from('{"stream":"S","domain":"hub","seq":9007199254740991,"duplicate":true}')),
    ).toEqual({
      stream: "S",
      seq: 9007199254740991,
      duplicate: true,
    });
  });

  it("passes errors through as errors", () => {
    const ack = parseAck(
      bytes('{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}'),
    );
    expect(ack.error?.description).toBe("maximum messages exceeded");
    expect(ack.seq).toBeUndefined();
    expect(parseAck(bytes("not json")).error).toBeDefined();
  });
});

describe("delivery metadata", () => {
  it("reads the classic ack subject", () => {
    expect(parseAckSubject("$JS.ACK.SIMD23_A_VOTES.tally.2.41.57.1795620450034418209.3")).toEqual({
      deliveryCount: 2,
      streamSequence: 41,
      timestampMs: 1795620450034,
    });
  });

  it("reads the ack subject with domain and account hash", () => {
    expect(
      parseAckSubject("$JS.ACK.hub.ACCHASH.SIMD23_A_VOTES.tally.1.7.7.1795620450034418209.0.xyz"),
    ).toEqual({
      deliveryCount: 1,
      streamSequence: 7,
      timestampMs: 1795620450034,
    });
  });

  it("refuses anything else", () => {
    expect(parseAckSubject("_INBOX.abc")).toBeUndefined();
    expect(parseAckSubject("$JS.ACK.S.c.x.1.1.1.0")).toBeUndefined();
  });
});
