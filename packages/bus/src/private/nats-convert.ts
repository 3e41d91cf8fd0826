import { type MsgHdrs, headers as natsHeaders } from "@nats-io/transport-node";
import type { Headers } from "../types.js";
import { EMPTY_HEADERS } from "./names.js";

const MSG_ID_HEADER = "Nats-Msg-Id";

/** NATS headers for a publish, or undefined when there is nothing to carry. */
export function toNatsHeaders(headers: Headers | undefined, msgId?: string): MsgHdrs | undefined {
  if (msgId === undefined && (headers === undefined || isEmpty(headers))) return undefined;
  const result = natsHeaders();
  if (headers !== undefined) for (const name in headers) result.set(name, headers[name]!);
  if (msgId !== undefined) result.set(MSG_ID_HEADER, msgId);
  return result;
}

/** The caller's headers: JetStream's own `Nats-*` headers are not part of the message. */
export function fromNatsHeaders(headers: MsgHdrs | undefined): Headers {
  if (headers === undefined) return EMPTY_HEADERS;
  let result: Record<string, string> | undefined;
  for (const name of headers.keys()) {
    if (name.length >= 5 && name.slice(0, 5).toLowerCase() === "nats-") continue;
    result ??= {};
    result[name] = headers.get(name);
  }
  return result === undefined ? EMPTY_HEADERS : Object.freeze(result);
}

function isEmpty(headers: Headers): boolean {
  for (const _ in headers) return false;
  return true;
}

/** The client hands out Node Buffers; the bus promises plain Uint8Arrays (a view, not a copy). */
export function plainBytes(data: Uint8Array): Uint8Array {
  return data.constructor === Uint8Array
    ? data
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
