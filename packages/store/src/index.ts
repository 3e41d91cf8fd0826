// @simd23/store: the cluster's shared, non-consensus state behind one interface, with a Redis
// adapter and an in-process one that pass the same contract suite.
export type { Codec, ProtoMessageFns } from "./codec.js";
export { bigintCodec, bytesCodec, integerCodec, jsonCodec, protoCodec, stringCodec } from "./codec.js";
export type { StoreErrorCode } from "./errors.js";
export { isStoreError, StoreError } from "./errors.js";
export type {
  AnyKey,
  CounterKey,
  IndexKey,
  MembershipKey,
  RecordFields,
  RecordKey,
  ValueKey,
} from "./keys.js";
export { counterKey, indexKey, membershipKey, recordKey, valueKey } from "./keys.js";
export type { MemoryDatabase, MemoryDatabaseOptions, MemoryStoreOptions } from "./memory.js";
export { createMemoryDatabase, createMemoryStore } from "./memory.js";
export type { RedisStoreOptions } from "./redis.js";
export { connectRedisStore } from "./redis.js";
export type {
  Batch,
  IndexEntry,
  IndexRangeOptions,
  IndexTrim,
  JoinOptions,
  Member,
  Store,
  StoreOperations,
  StoreStatus,
  UpdateOptions,
  WriteOptions,
} from "./store.js";
