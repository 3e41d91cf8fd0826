import { type EquivocationEvidence, toBase58 } from "@simd23/core";
import { control } from "@simd23/proto";
import { type IndexKey, indexKey, protoCodec, type Store, type ValueKey, valueKey } from "@simd23/store";

/**
 * Where the leader keeps equivocation evidence in the store, so anyone can
 * look it up: one value per (UserBlockSlot, proposer) at
 * `equivocation/<u>/<proposer base58>` (a control.v1.EquivocationEvidence), and
 * the index `equivocations` listing those ids (`<u>/<proposer base58>`) scored
 * by u. The same evidence is published on CONTROL (`control.equivocation`).
 */
export const EQUIVOCATION_INDEX: IndexKey = indexKey("equivocations");

export function equivocationId(userBlockSlot: number, proposer: Uint8Array): string {
  return `${userBlockSlot}/${toBase58(proposer)}`;
}

export function equivocationKey(id: string): ValueKey<control.EquivocationEvidence> {
  return valueKey(`equivocation/${id}`, protoCodec(control.EquivocationEvidence, "EquivocationEvidence"));
}

/** The wire form of the recording book's evidence. */
export function toEvidenceMessage(evidence: EquivocationEvidence): control.EquivocationEvidence {
  return {
    proposer: evidence.proposer,
    userBlockSlot: evidence.userBlockSlot,
    first: { header: evidence.first.header, signature: evidence.first.signature },
    second: { header: evidence.second.header, signature: evidence.second.signature },
  };
}

/** Writes evidence to the store (the first evidence for a pair stays); true when this call wrote it. */
export async function storeEquivocationEvidence(
  store: Store,
  evidence: EquivocationEvidence,
): Promise<boolean> {
  const id = equivocationId(evidence.userBlockSlot, evidence.proposer);
  const written = await store.setIfAbsent(equivocationKey(id), toEvidenceMessage(evidence));
  await store.indexAdd(EQUIVOCATION_INDEX, id, evidence.userBlockSlot);
  return written;
}

/** The evidence recorded for UserBlockSlots in [from, to], oldest first. */
export async function listEquivocationEvidence(
  store: Store,
  range: { readonly from?: number; readonly to?: number } = {},
): Promise<control.EquivocationEvidence[]> {
  const ids = await store.indexRange(EQUIVOCATION_INDEX, {
    ...(range.from === undefined ? {} : { min: range.from }),
    ...(range.to === undefined ? {} : { max: range.to }),
  });
  const found = await Promise.all(ids.map((entry) => store.get(equivocationKey(entry.member))));
  return found.filter((evidence) => evidence !== undefined);
}
