import { context, trace } from "@opentelemetry/api";
import { type DestinationStream, type Logger, pino } from "pino";
import type { LogLevel } from "./config.js";

export type { Logger } from "pino";

export interface CreateLoggerOptions {
  /** The role, e.g. `proposer`; the `service` field reads `simd23-<role>`. */
  readonly role: string;
  /** The replica ordinal. */
  readonly replica: number;
  readonly level: LogLevel;
  /** Where JSON lines go; standard output unless a test captures them. */
  readonly destination?: DestinationStream;
}

/**
 * The one logger of a service: JSON lines on standard output, each carrying `service`, `role`,
 * `replica` and, while a span is active, `trace_id` and `span_id` (so a log line leads to its
 * trace). Writes are synchronous so nothing is lost when the process exits right after a line.
 */
export function createLogger(options: CreateLoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: `simd23-${options.role}`, role: options.role, replica: options.replica },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: activeTraceFields,
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

function activeTraceFields(): Record<string, string> {
  const spanContext = trace.getSpan(context.active())?.spanContext();
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}
