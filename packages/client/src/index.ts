// The simd23 client SDK: keys, a client for a running testnet, confirmations, the devnet
// file, and the load generator. The `simd23` CLI (src/cli) is built on exactly this API.

// The keypair and instruction builders of the protocol core, so SDK users need no second import.
export { burnComputeInstruction, type Keypair, memoInstruction, transferInstruction } from "@simd23/core";
export {
  type Blockhash,
  type BundleSendResult,
  type ClientOptions,
  type ConfirmOptions,
  connect,
  type Endpoints,
  type SendResult,
  type SignatureSubscription,
  type SignedTransaction,
  Simd23Client,
  type TransactionRequest,
  type TransferRequest,
} from "./client.js";
export type {
  Balance,
  ClusterStatus,
  EndpointResult,
  ExecutorStatus,
  HaltInfo,
  LeaderStatus,
  ProposerStatus,
  VerifierStatus,
} from "./cluster.js";
export {
  connectDevnet,
  type Devnet,
  faucetFromClusterSeed,
  loadDevnet,
  readGenesisFile,
} from "./devnet/connect.js";
export {
  DEVNET_FILE_VERSION,
  type DevnetFile,
  type DevnetProcess,
  defaultDevnetFilePath,
  devnetFileToJson,
  isDevnetRunning,
  parseDevnetFile,
  readDevnetFile,
  simd23Home,
  writeDevnetFile,
} from "./devnet/file.js";
export { DEVNET_TIMING } from "./devnet/timing.js";
export {
  ConfigurationError,
  ConfirmationTimeoutError,
  ConnectionError,
  DevnetFileError,
  InsufficientBalanceError,
  InvalidInputError,
  KeypairFileError,
  RpcError,
  Simd23Error,
  TransactionDroppedError,
  TransactionRejectedError,
} from "./errors.js";
export {
  generateKeypair,
  keypairFromJson,
  keypairFromSecretKey,
  keypairToJson,
  type PublicKeyLike,
  parsePublicKey,
  parseSignature,
  publicKeyToString,
  readKeypairFile,
  writeKeypairFile,
} from "./keys.js";
export { keepBlockhashFresh } from "./load/blockhash.js";
export {
  type LoadKind,
  type LoadOptions,
  type LoadPhase,
  type LoadProgress,
  type LoadReport,
  runLoad,
  type UnexecutedTransaction,
} from "./load/generator.js";
export { type LatencySummary, latencySummary } from "./load/summary.js";
export {
  type ExecutionResult,
  executionStatusName,
  hasReached,
  LEVEL_NAMES,
  type LevelName,
  PROGRESS_LEVEL_NAMES,
  type ProgressLevelName,
  type SignatureUpdate,
  type TransactionStatus,
} from "./status.js";
