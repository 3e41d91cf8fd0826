import { BusError } from "../errors.js";
import { STREAM_NAMES, STREAMS, type StreamLimits, type StreamName } from "../streams.js";
import type { StreamLimitOverrides } from "../types.js";

/** The defaults with `overrides` applied, checked. */
export function resolveLimits(overrides: StreamLimitOverrides | undefined): Record<StreamName, StreamLimits> {
  const resolved = {} as Record<StreamName, StreamLimits>;
  for (const name of STREAM_NAMES) {
    const limits = { ...STREAMS[name].limits, ...overrides?.[name] };
    for (const [key, value] of Object.entries(limits)) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new BusError("INVALID_ARGUMENT", `${name}.${key} must be a non-negative integer`);
      }
    }
    if (limits.duplicateWindowMs <= 0) {
      throw new BusError("INVALID_ARGUMENT", `${name}.duplicateWindowMs must be positive`);
    }
    if (limits.maxAgeMs > 0 && limits.duplicateWindowMs > limits.maxAgeMs) {
      throw new BusError("INVALID_ARGUMENT", `${name}.duplicateWindowMs must not exceed maxAgeMs`);
    }
    resolved[name] = limits;
  }
  return resolved;
}
