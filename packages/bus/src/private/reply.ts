import type { Headers, IncomingRequest, Reply, RequestHandler } from "../types.js";
import { checkHeaders, EMPTY_HEADERS } from "./names.js";

/** Carries a serve() handler's error back to the requester, who rejects with HANDLER_ERROR. */
export const ERROR_HEADER = "Simd23-Bus-Error";

/** Runs a serve() handler; its error (or an invalid reply) becomes an error reply. */
export async function answer(handler: RequestHandler, request: IncomingRequest): Promise<Reply> {
  try {
    const result = await handler(request);
    if (result instanceof Uint8Array) return { data: result, headers: EMPTY_HEADERS };
    return { data: result.data, headers: freezeHeaders(checkHeaders(result.headers)) };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      data: new Uint8Array(0),
      headers: { [ERROR_HEADER]: message.replace(/\s+/g, " ").trim() || "handler failed" },
    };
  }
}

export function freezeHeaders(headers: Headers | undefined): Headers {
  if (headers === undefined) return EMPTY_HEADERS;
  const copy = { ...headers };
  return Object.keys(copy).length === 0 ? EMPTY_HEADERS : Object.freeze(copy);
}
