export { BusError, type BusErrorCode, isBusError } from "./errors.js";
export {
  createMemoryBus,
  createMemoryBusServer,
  type MemoryBusOptions,
  type MemoryBusServer,
} from "./memory.js";
export { connectNatsBus, type NatsBusOptions } from "./nats.js";
export {
  STREAM_NAMES,
  STREAMS,
  type StreamDefinition,
  type StreamLimits,
  type StreamName,
} from "./streams.js";
export type {
  Bus,
  BusStatus,
  ConsumeOptions,
  Consumer,
  DeliveredMessage,
  Headers,
  IncomingRequest,
  MessageHandler,
  PublishAck,
  PublishOptions,
  Replay,
  ReplayOptions,
  Reply,
  RequestHandler,
  RequestOptions,
  ServeOptions,
  Service,
  StartPosition,
  StoredMessage,
  StreamLimitOverrides,
} from "./types.js";
