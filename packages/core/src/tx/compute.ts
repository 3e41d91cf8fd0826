import type { tx } from "@simd23/proto";

/**
 * Compute-unit costs that execution meters against a transaction's
 * computeUnitLimit. The instruction set is fixed, so each cost is a constant or
 * a linear function of the instruction's size; the figures follow Solana's cost
 * model where it has one (720 CU per signature, 150 CU for a system transfer).
 */
export const SIGNATURE_COMPUTE_UNITS = 720;
export const TRANSFER_COMPUTE_UNITS = 150;
export const MEMO_BASE_COMPUTE_UNITS = 100;
export const MEMO_COMPUTE_UNITS_PER_BYTE = 10;

/** Compute units one instruction consumes when it runs (burnCompute: exactly its units). */
export function instructionComputeUnits(instruction: tx.Instruction): number {
  const kind = instruction.kind;
  switch (kind?.$case) {
    case "transfer":
      return TRANSFER_COMPUTE_UNITS;
    case "memo":
      return (
        MEMO_BASE_COMPUTE_UNITS + MEMO_COMPUTE_UNITS_PER_BYTE * Buffer.byteLength(kind.value.text, "utf8")
      );
    case "burnCompute":
      return kind.value.units;
    default:
      return 0;
  }
}

/**
 * Compute units a message consumes if all of it runs: its signatures first,
 * then every instruction. Execution fails with ComputeBudgetExceeded once the
 * running total passes computeUnitLimit.
 */
export function messageComputeUnits(message: tx.TransactionMessage): number {
  let units = SIGNATURE_COMPUTE_UNITS * message.signers.length;
  for (const instruction of message.instructions) units += instructionComputeUnits(instruction);
  return units;
}
