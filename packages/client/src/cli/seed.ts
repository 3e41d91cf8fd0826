import { fromHex } from "@simd23/core";
import { CliError } from "./errors.js";

/** The cluster seed (32 bytes of hex) from SIMD23_CLUSTER_SEED: every testnet key derives from it. */
export function clusterSeedFromEnv(env: NodeJS.ProcessEnv = process.env): Uint8Array {
  const hex = env.SIMD23_CLUSTER_SEED;
  if (!hex)
    throw new CliError("SIMD23_CLUSTER_SEED is not set: it must hold the cluster seed, 64 hex characters");
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new CliError(
      `SIMD23_CLUSTER_SEED must be 64 hex characters (32 bytes), got ${hex.length} characters`,
    );
  }
  return fromHex(hex);
}
