// Stand-ins for tests (`@simd23/runtime/testing`): a leader and proposer pool per execution mode,
// sharing one core (LedgerStandIn), and a repair server. Not part of the runtime's public API.
export { LiveTestLedger, type LiveTestLedgerOptions, type RecordedEntry } from "./live-test-ledger.js";
export { type RepairServer, startRepairServer } from "./repair-server.js";
export { LedgerStandIn } from "./stand-in.js";
export { type SyncSlotOptions, SyncTestLedger } from "./sync-test-ledger.js";
export { type ProduceSlotOptions, TestLedger } from "./test-ledger.js";
