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
 * How an accepted item is published to INTAKE, with its id and the active trace context. The
 * message id names one acceptance (`acceptance`, unique to it): the bus's retries of that publish
 * are stored once, while an item that comes back to a key after it was handed on — and whose
 * first message under the key is acknowledged and gone — is stored again.
 */
export function intakePublishOptions(poolIndex: number, key: string, acceptance: string): PublishOptions {
  return {
    msgId: `${poolIndex}.${key}.${acceptance}`,
    headers: injectTraceContext({ [INTAKE_ID_HEADER]: key }),
  };
}

/** Set while a pool key's INTAKE may hold items its holder did not finish: adoption looks for it. */
export function intakeMarkerKey(poolIndex: number): ValueKey<number> {
  return valueKey<number>(`proposer-intake/${poolIndex}`, integerCodec);
}
