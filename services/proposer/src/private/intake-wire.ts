import type { PublishOptions } from "@simd23/bus";
import { injectTraceContext } from "@simd23/service-kit";
import { integerCodec, type ValueKey, valueKey } from "@simd23/store";

/**
 * The header naming an INTAKE message's item (its hex id), so a delivery is
 * matched with what is pending without decoding it. A forged one only makes a
 * delivery look unknown, and unknown deliveries are checked in full.
 */
export const INTAKE_ID_HEADER = "simd23-id";

/**
 * How an accepted item is published to INTAKE: deduplicated per pool key (the
 * same item stored twice under one key is stored once; handed to another key,
 * it is stored again there), with its id and the active trace context.
 */
export function intakePublishOptions(poolIndex: number, key: string): PublishOptions {
  return { msgId: `${poolIndex}.${key}`, headers: injectTraceContext({ [INTAKE_ID_HEADER]: key }) };
}

/** Set while a pool key's INTAKE may hold items its holder did not finish: adoption looks for it. */
export function intakeMarkerKey(poolIndex: number): ValueKey<number> {
  return valueKey<number>(`proposer-intake/${poolIndex}`, integerCodec);
}
