export {
  Bank,
  BankError,
  type BankOptions,
  type BankSnapshotState,
  createGenesisBank,
  type ExecutableItem,
  type ExecuteOptions,
  type ItemExecution,
  type UserBlockForExecution,
} from "./bank.js";
export {
  bankHashCommitment,
  computeBankHash,
  GENESIS_PARENT_BANK_HASH,
  perturbedBankHash,
} from "./bank-hash.js";
export { BankForks, executeSlot, type SlotExecution, type SlotExecutionInput } from "./forks.js";
export {
  AccountsLattice,
  accountLatticeElement,
  accountLatticeInput,
  LATTICE_BYTES,
  LATTICE_LANES,
  latticeOfAccounts,
} from "./lattice.js";
export {
  type LatticeImplementation,
  type LatticeKernel,
  latticeImplementation,
  latticeKernels,
  withLatticeKernel,
} from "./lattice-kernel.js";
export { decodeBankSnapshot, encodeBankSnapshot, SnapshotError } from "./snapshot.js";
export { executeSyncSlot, type SyncSlotExecution, type SyncSlotInput } from "./sync.js";
