import { ledger } from "@simd23/proto";
import { bytesEqual } from "../bytes.js";
import { HASH_BYTES } from "../hash.js";
import { firstInvalidEntry, firstInvalidEntryAsync, type PohEntry } from "../poh/entry.js";
import type { ChainState, LedgerContext } from "./context.js";
import type { SlotReplay, SlotViolation } from "./record.js";
import { checkSlotStart, SlotRules } from "./rules.js";

/** One slot as published on the LEDGER stream. */
export interface SlotMessages {
  readonly start: ledger.SlotStart;
  /** In the order received; the replayer requires indices 0, 1, 2, …. */
  readonly entries: readonly ledger.SlotEntry[];
  readonly end: ledger.SlotEnd;
}

/** Index of the first entry whose hash does not follow from its predecessor, or -1 (like firstInvalidEntry). */
export type PohVerifier = (start: Uint8Array, entries: readonly PohEntry[]) => number;
export type AsyncPohVerifier = (start: Uint8Array, entries: readonly PohEntry[]) => Promise<number>;

export type DecodedLedgerMessage =
  | { readonly ok: true; readonly message: ledger.LedgerMessage }
  | { readonly ok: false; readonly violation: SlotViolation };

/**
 * Decodes a LEDGER message (an envelope body), refusing bytes that are not the
 * canonical encoding: the reader accepts some other forms of the same message,
 * and one message has one byte form, as transactions and UserBlocks do.
 */
export function decodeLedgerMessage(bytes: Uint8Array): DecodedLedgerMessage {
  const malformed = (detail: string): DecodedLedgerMessage => ({
    ok: false,
    violation: { code: "MALFORMED", entryIndex: null, detail },
  });
  let message: ledger.LedgerMessage;
  try {
    message = ledger.LedgerMessage.decode(bytes);
  } catch (error) {
    return malformed(`not a ledger message: ${(error as Error).message}`);
  }
  if (!bytesEqual(ledger.LedgerMessage.encode(message).finish(), bytes))
    return malformed("the encoding is not canonical");
  return { ok: true, message };
}

export type GroupedSlot =
  | { readonly ok: true; readonly slot: SlotMessages }
  | { readonly ok: false; readonly violation: SlotViolation };

/** Groups a slot's LEDGER messages: a start, its entries, an end, in that order. */
export function groupSlotMessages(messages: readonly ledger.LedgerMessage[]): GroupedSlot {
  const malformed = (detail: string): GroupedSlot => ({
    ok: false,
    violation: { code: "MALFORMED", entryIndex: null, detail },
  });
  const first = messages[0]?.kind;
  const last = messages.at(-1)?.kind;
  if (first?.$case !== "start") return malformed("a slot opens with its SlotStart");
  if (messages.length < 2 || last?.$case !== "end") return malformed("a slot closes with its SlotEnd");
  const entries: ledger.SlotEntry[] = [];
  for (const message of messages.slice(1, -1)) {
    if (message.kind?.$case !== "entry")
      return malformed("between its start and end a slot holds only entries");
    entries.push(message.kind.value);
  }
  return { ok: true, slot: { start: first.value, entries, end: last.value } };
}

interface StructuralPass {
  readonly rules: SlotRules | null;
  /** The entries that passed every rule but PoH, with their mixins. */
  readonly pohEntries: PohEntry[];
  readonly violation: SlotViolation | null;
}

function structuralPass(context: LedgerContext, parent: ChainState, messages: SlotMessages): StructuralPass {
  const startViolation = checkSlotStart(context, parent, messages.start);
  if (startViolation !== null) return { rules: null, pohEntries: [], violation: startViolation };
  const rules = new SlotRules(context, parent, messages.start);
  const pohEntries: PohEntry[] = [];
  const stop = (violation: SlotViolation): StructuralPass => ({ rules, pohEntries, violation });
  for (const [i, slotEntry] of messages.entries.entries()) {
    if (slotEntry.slot !== messages.start.slot)
      return stop({ code: "MALFORMED", entryIndex: i, detail: `the entry names slot ${slotEntry.slot}` });
    if (slotEntry.index !== i)
      return stop({
        code: "NON_CONTIGUOUS",
        entryIndex: i,
        detail: `entry ${i} carries index ${slotEntry.index}`,
      });
    const { entry } = slotEntry;
    if (entry === undefined)
      return stop({ code: "MALFORMED", entryIndex: i, detail: "the entry is missing" });
    if (entry.hash.length !== HASH_BYTES)
      return stop({ code: "MALFORMED", entryIndex: i, detail: `the hash is ${entry.hash.length} bytes` });
    const admitted = rules.admit(entry.numHashes, entry.payload);
    if (!admitted.ok) return stop(admitted.violation);
    admitted.admission.commit(entry.hash);
    pohEntries.push({ numHashes: entry.numHashes, hash: entry.hash, mixin: admitted.admission.mixin });
  }
  return { rules, pohEntries, violation: null };
}

function conclude(pass: StructuralPass, firstBadPoh: number, end: ledger.SlotEnd): SlotReplay {
  if (pass.rules === null) return { ok: false, violation: pass.violation! };
  // Entries are checked in order, so a PoH break always precedes the first other violation.
  if (firstBadPoh !== -1) {
    return {
      ok: false,
      violation: {
        code: "BAD_POH",
        entryIndex: firstBadPoh,
        detail: "the hash does not follow from its predecessor",
      },
    };
  }
  if (pass.violation !== null) return { ok: false, violation: pass.violation };
  return pass.rules.finish(end);
}

/**
 * Checks a slot against its parent's chain state — what executors, the
 * verifier and the aggregator run on every slot — and returns its record, or
 * the first violation (by entry order). The rules of each entry run first;
 * then the PoH of the entries that passed, with `verifyPoh` (a parallel
 * verifier can replace the default sequential one); then the end.
 */
export function replaySlot(
  context: LedgerContext,
  parent: ChainState,
  messages: SlotMessages,
  verifyPoh: PohVerifier = firstInvalidEntry,
): SlotReplay {
  const pass = structuralPass(context, parent, messages);
  const firstBadPoh = pass.rules === null ? -1 : verifyPoh(parent.lastHash, pass.pohEntries);
  return conclude(pass, firstBadPoh, messages.end);
}

/** {@link replaySlot} without holding the event loop while the PoH verifies (firstInvalidEntryAsync by default). */
export async function replaySlotAsync(
  context: LedgerContext,
  parent: ChainState,
  messages: SlotMessages,
  verifyPoh: AsyncPohVerifier = firstInvalidEntryAsync,
): Promise<SlotReplay> {
  const pass = structuralPass(context, parent, messages);
  const firstBadPoh = pass.rules === null ? -1 : await verifyPoh(parent.lastHash, pass.pohEntries);
  return conclude(pass, firstBadPoh, messages.end);
}
