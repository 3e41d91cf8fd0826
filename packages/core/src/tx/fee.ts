import type { Fees } from "../genesis.js";

/** computeUnitPrice is in micro-lamports per compute unit. */
export const MICRO_LAMPORTS_PER_LAMPORT = 1_000_000n;

export interface TransactionFee {
  /** lamportsPerSignature × number of signatures. */
  readonly base: bigint;
  /** ceil(computeUnitLimit × computeUnitPrice / 1,000,000). */
  readonly priority: bigint;
  readonly total: bigint;
}

/** The fee-relevant fields of a transaction. */
export interface FeeInputs {
  readonly signatureCount: number;
  readonly computeUnitLimit: number;
  readonly computeUnitPrice: bigint;
}

/** Priority fee in lamports: the limit (not the units used) times the price, rounded up. */
export function priorityFee(computeUnitLimit: number, computeUnitPrice: bigint): bigint {
  const microLamports = BigInt(computeUnitLimit) * computeUnitPrice;
  return (microLamports + MICRO_LAMPORTS_PER_LAMPORT - 1n) / MICRO_LAMPORTS_PER_LAMPORT;
}

/** What the fee payer is charged: base fee plus priority fee. Fees are burned. */
export function transactionFee(inputs: FeeInputs, fees: Fees): TransactionFee {
  const base = fees.lamportsPerSignature * BigInt(inputs.signatureCount);
  const priority = priorityFee(inputs.computeUnitLimit, inputs.computeUnitPrice);
  return { base, priority, total: base + priority };
}

/**
 * A priority fee rate as an exact rational: micro-lamports offered over compute
 * units requested. A transaction's rate is price·limit / limit; a bundle's is
 * Σ price_i·limit_i / Σ limit_i.
 */
export interface FeeRate {
  readonly microLamports: bigint;
  readonly computeUnits: bigint;
}

export function feeRateOf(
  parts: readonly Pick<FeeInputs, "computeUnitLimit" | "computeUnitPrice">[],
): FeeRate {
  let microLamports = 0n;
  let computeUnits = 0n;
  for (const part of parts) {
    const limit = BigInt(part.computeUnitLimit);
    microLamports += part.computeUnitPrice * limit;
    computeUnits += limit;
  }
  if (computeUnits === 0n) throw new RangeError("a fee rate needs a positive compute-unit total");
  return { microLamports, computeUnits };
}

/**
 * Exact comparison of two rates by cross-multiplication (never floating
 * point): negative if a pays less per compute unit than b, 0 if equal.
 */
export function compareFeeRates(a: FeeRate, b: FeeRate): number {
  const left = a.microLamports * b.computeUnits;
  const right = b.microLamports * a.computeUnits;
  return left < right ? -1 : left > right ? 1 : 0;
}
