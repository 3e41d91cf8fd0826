import { type Context, context, defaultTextMapSetter, type TextMapGetter } from "@opentelemetry/api";
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";

/** Message headers as the bus carries them. */
export type MessageHeaders = Record<string, string>;

// Bus headers always use W3C Trace Context (`traceparent`, `tracestate`) and W3C Baggage,
// whatever OTEL_PROPAGATORS says for gRPC, so every role reads what every other role wrote.
const propagator = new CompositePropagator({
  propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
});

// Some transports normalise header case (`Traceparent`); W3C names are lower case.
const caseInsensitiveGetter: TextMapGetter<Readonly<MessageHeaders>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => {
    const exact = carrier[key];
    if (exact !== undefined) return exact;
    const match = Object.keys(carrier).find((name) => name.toLowerCase() === key);
    return match === undefined ? undefined : carrier[match];
  },
};

/**
 * Writes the trace context of `from` (the active context by default) into message headers, so
 * the consumer's work joins the producer's trace. Returns the same headers object.
 */
export function injectTraceContext(
  headers: MessageHeaders,
  from: Context = context.active(),
): MessageHeaders {
  propagator.inject(from, headers, defaultTextMapSetter);
  return headers;
}

/**
 * The context a consumer runs a message's work in: `into` (the active context by default)
 * with the remote span and baggage the headers carry. Run the work with
 * `context.with(extractTraceContext(headers), …)`; headers without trace context change nothing.
 */
export function extractTraceContext(
  headers: Readonly<MessageHeaders>,
  into: Context = context.active(),
): Context {
  return propagator.extract(into, headers, caseInsensitiveGetter);
}
