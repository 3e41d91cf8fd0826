export { BankHashVerifierClient } from "./client.js";
export {
  startBankHashVerifier,
  type VerifierDeps,
  type VerifierRole,
  type VerifierSettings,
} from "./verifier.js";
