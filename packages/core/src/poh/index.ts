export { hashChain, hashChainAsync, JS_HASHES_PER_TURN, mixinHash } from "./chain.js";
export {
  firstInvalidEntry,
  firstInvalidEntryAsync,
  nextEntryHash,
  type PohEntry,
  type VerifyOptions,
} from "./entry.js";
export {
  defaultPohHasher,
  MAX_HASH_COUNT,
  POH_HASH_BYTES,
  type PohHasher,
  type PohImplementation,
  pohHashers,
  pohImplementation,
} from "./hasher.js";
export {
  PohRecorder,
  PohRecorderError,
  type PohRecorderErrorCode,
  type PohRecorderOptions,
} from "./recorder.js";
export { checkTickCounts, type TickCountCheck } from "./tick.js";
