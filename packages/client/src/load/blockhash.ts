import type { Simd23Client } from "../client.js";

const BLOCKHASH_REFRESH_MS = 1_000;

/**
 * Hands `onFresh` the cluster's latest blockhash every second, so that a load running longer than
 * a blockhash's validity never signs with an expired one; a failed fetch keeps the last one.
 * Returns the function that stops it.
 */
export function keepBlockhashFresh(
  client: Simd23Client,
  onFresh: (blockhash: Uint8Array) => void,
): () => void {
  const refresher = setInterval(() => {
    client.getLatestBlockhash().then(
      (fresh) => onFresh(fresh.blockhash),
      () => undefined,
    );
  }, BLOCKHASH_REFRESH_MS);
  return () => clearInterval(refresher);
}
