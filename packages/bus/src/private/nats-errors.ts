import { JetStreamApiCodes, JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import { errors } from "@nats-io/transport-node";
import { BusError } from "../errors.js";

/** Maps an error from the NATS client to the bus's typed error. */
export function toBusError(error: unknown, context: string): BusError {
  if (error instanceof BusError) return error;
  const message = `${context}: ${error instanceof Error ? error.message : String(error)}`;
  const options = { cause: error };
  if (error instanceof JetStreamApiError) {
    if (error.code === JetStreamApiCodes.StreamNotFound)
      return new BusError("STREAM_NOT_FOUND", message, options);
    return new BusError("REJECTED", message, options);
  }
  if (error instanceof errors.TimeoutError) return new BusError("TIMEOUT", message, options);
  if (error instanceof errors.ClosedConnectionError || error instanceof errors.DrainingConnectionError) {
    return new BusError("CLOSED", message, options);
  }
  if (error instanceof errors.NoRespondersError) return new BusError("NO_RESPONDERS", message, options);
  if (error instanceof errors.RequestError) {
    if (error.isNoResponders()) return new BusError("NO_RESPONDERS", message, options);
    if (error.cause instanceof errors.TimeoutError) return new BusError("TIMEOUT", message, options);
  }
  if (error instanceof errors.ConnectionError) return new BusError("DISCONNECTED", message, options);
  if (error instanceof JetStreamError && /stream not found/i.test(error.message)) {
    return new BusError("STREAM_NOT_FOUND", message, options);
  }
  return new BusError("REJECTED", message, options);
}
