import { propagation, ROOT_CONTEXT, type SpanContext, TraceFlags, trace } from "@opentelemetry/api";
import { describe, expect, it } from "vitest";
import { extractTraceContext, injectTraceContext, type MessageHeaders } from "./trace-context.js";

const producerSpan: SpanContext = {
  traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
  spanId: "00f067aa0ba902b7",
  traceFlags: TraceFlags.SAMPLED,
  isRemote: false,
  traceState: undefined,
};

describe("trace context in message headers", () => {
  it("round-trips the span context and baggage through plain headers", () => {
    const withBaggage = propagation.setBaggage(
      trace.setSpanContext(ROOT_CONTEXT, producerSpan),
      propagation.createBaggage({ "simd23.tx": { value: "5VER" } }),
    );
    const headers: MessageHeaders = { "content-type": "application/x-protobuf" };
    expect(injectTraceContext(headers, withBaggage)).toBe(headers);
    expect(headers.traceparent).toBe("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    expect(headers["content-type"]).toBe("application/x-protobuf");

    const consumer = extractTraceContext(headers, ROOT_CONTEXT);
    expect(trace.getSpanContext(consumer)).toEqual({
      traceId: producerSpan.traceId,
      spanId: producerSpan.spanId,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    expect(propagation.getBaggage(consumer)?.getEntry("simd23.tx")?.value).toBe("5VER");
  });

  it("reads headers whose names a transport capitalised", () => {
    const consumer = extractTraceContext(
      { Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00" },
      ROOT_CONTEXT,
    );
    expect(trace.getSpanContext(consumer)?.traceId).toBe(producerSpan.traceId);
    expect(trace.getSpanContext(consumer)?.traceFlags).toBe(TraceFlags.NONE);
  });

  it("writes nothing without a span and leaves the context alone for headers without one", () => {
    const headers: MessageHeaders = {};
    injectTraceContext(headers, ROOT_CONTEXT);
    expect(headers).toEqual({});
    expect(trace.getSpanContext(extractTraceContext({ other: "x" }, ROOT_CONTEXT))).toBeUndefined();
    expect(
      trace.getSpanContext(extractTraceContext({ traceparent: "garbage" }, ROOT_CONTEXT)),
    ).toBeUndefined();
  });
});
