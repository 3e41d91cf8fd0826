// The proposer role: N concurrent replicas take user transactions, store them durably, and build
// the UserBlocks of the UserBlockSlots they are scheduled in. main.ts runs it as a process; the
// embedded devnet calls startProposer with its in-process bus and store.
export {
  PROPOSER_VARIABLES,
  type ProposerSettings,
  type ProposerVariables,
  proposerSettings,
} from "./config.js";
export { type ProposerDependencies, type ProposerRole, startProposer } from "./proposer.js";
