import { generateKeyPairSync, type KeyObject, randomBytes, sign, verify } from "node:crypto";
import { measureRate } from "./harness.js";

export interface VerifyCost {
  /** Verifications per second of wall time on this thread. */
  readonly perSecond: number;
  /** CPU time of one verification, µs: what it costs whatever else the machine runs. */
  readonly cpuMicrosecondsEach: number;
}

/**
 * node:crypto ed25519 verify in a loop on this thread, KeyObjects built once (as the core caches
 * them), over `keys` signers and 200-byte messages (a transfer's signing input is about that):
 * the cost every role pays per signature it checks.
 */
export async function ed25519VerifyCost(minMs: number, keys = 64): Promise<VerifyCost> {
  const signers: { publicKey: KeyObject; message: Buffer; signature: Buffer }[] = [];
  for (let i = 0; i < keys; i++) {
    const pair = generateKeyPairSync("ed25519");
    const message = randomBytes(200);
    signers.push({ publicKey: pair.publicKey, message, signature: sign(null, message, pair.privateKey) });
  }
  let done = 0;
  const cpuBefore = process.cpuUsage();
  const perSecond = await measureRate(() => {
    for (let n = 0; n < 200; n++, done++) {
      const signer = signers[done % signers.length]!;
      if (!verify(null, signer.message, signer.publicKey, signer.signature))
        throw new Error("a signature made here does not verify");
    }
    return 200;
  }, minMs);
  const cpu = process.cpuUsage(cpuBefore);
  return { perSecond, cpuMicrosecondsEach: (cpu.user + cpu.system) / done };
}
