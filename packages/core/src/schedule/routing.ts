const TWO_32 = 2 ** 32;

/**
 * Index of the proposer that owns a fee payer in an active set of `activeCount`:
 * floor(u32be(feePayer[0..4]) · n / 2^32), so fee payers spread evenly over the
 * set and one fee payer's transactions all go to one proposer.
 */
export function feePayerRouteIndex(feePayer: Uint8Array, activeCount: number): number {
  if (feePayer.length < 4) throw new RangeError(`a fee payer is a 32-byte key, got ${feePayer.length} bytes`);
  if (!Number.isSafeInteger(activeCount) || activeCount < 1)
    throw new RangeError(`routing needs at least one active proposer, got ${activeCount}`);
  const prefix = new DataView(feePayer.buffer, feePayer.byteOffset, 4).getUint32(0, false);
  // prefix · n < 2^53, and dividing by a power of two is exact: floor is exact.
  return Math.floor((prefix * activeCount) / TWO_32);
}

/** The proposer a transaction goes to, or undefined when no proposer is active. */
export function routeTransaction(
  feePayer: Uint8Array,
  activeProposers: readonly Uint8Array[],
): Uint8Array | undefined {
  if (activeProposers.length === 0) return undefined;
  return activeProposers[feePayerRouteIndex(feePayer, activeProposers.length)];
}
