import { BusError } from "../errors.js";
import { STREAM_NAMES, STREAMS, type StreamName } from "../streams.js";
import type { Headers, StartPosition } from "../types.js";

// Both adapters validate with these functions, so a bad argument fails the same way on each
// and nothing reaches the server.

const NAMESPACE = /^[a-z0-9][a-z0-9_-]{0,47}$/;
const CONSUMER_NAME = /^[A-Za-z0-9_-]{1,64}$/;
// A subject token: printable ASCII except the separator and the wildcards.
const LITERAL_TOKEN = /^[!-)+-\-/-=?-~]+$/;
const HEADER_NAME = /^[!-9;-~]+$/;
const HEADER_VALUE = /^[^\r\n]*$/;

/** Header names and values together (plus 4 bytes each for framing) stay within this. */
export const MAX_HEADER_BYTES = 4096;
/** What a message may add to its payload on the wire: headers, msgId and framing. */
export const HEADER_ALLOWANCE = 8192;
const MAX_MSG_ID_LENGTH = 256;

const streamByToken = new Map<string, StreamName>(
  STREAM_NAMES.map((name) => [STREAMS[name].subjectToken, name]),
);

export function checkNamespace(namespace: string): string {
  if (typeof namespace !== "string" || !NAMESPACE.test(namespace)) {
    throw new BusError(
      "INVALID_ARGUMENT",
      `namespace ${JSON.stringify(namespace)} must be 1-48 of a-z, 0-9, '_' or '-', starting with a letter or digit`,
    );
  }
  return namespace;
}

export function checkConsumerName(name: string): string {
  if (typeof name !== "string" || !CONSUMER_NAME.test(name)) {
    throw new BusError(
      "INVALID_ARGUMENT",
      `consumer name ${JSON.stringify(name)} must be 1-64 of A-Z, a-z, 0-9, '_', '-'`,
    );
  }
  return name;
}

export function checkStreamName(stream: string): StreamName {
  if (!(STREAM_NAMES as readonly string[]).includes(stream)) {
    throw new BusError("INVALID_ARGUMENT", `unknown stream ${JSON.stringify(stream)}`);
  }
  return stream as StreamName;
}

/** A subject without wildcards; returns its tokens. */
export function checkLiteralSubject(subject: string): string[] {
  const tokens = typeof subject === "string" ? subject.split(".") : [];
  if (tokens.length === 0 || !tokens.every((token) => LITERAL_TOKEN.test(token))) {
    throw new BusError("INVALID_ARGUMENT", `invalid subject ${JSON.stringify(subject)}`);
  }
  return tokens;
}

/** A subject that may use `*` for one token and a final `>` for the rest. */
export function checkSubjectPattern(pattern: string): string[] {
  const tokens = typeof pattern === "string" ? pattern.split(".") : [];
  const valid =
    tokens.length > 0 &&
    tokens.every(
      (token, i) => token === "*" || (token === ">" && i === tokens.length - 1) || LITERAL_TOKEN.test(token),
    );
  if (!valid) throw new BusError("INVALID_ARGUMENT", `invalid subject pattern ${JSON.stringify(pattern)}`);
  return tokens;
}

/** The stream that stores a literal subject, or undefined when none does. */
export function streamOfSubject(subject: string): StreamName | undefined {
  const first = checkLiteralSubject(subject)[0]!;
  return streamByToken.get(first);
}

// Publishers use few subjects many times; remembering the valid ones keeps the hot path short.
const validPublishSubjects = new Map<string, StreamName>();
const MAX_REMEMBERED_SUBJECTS = 4096;

/** A publish subject: literal, and stored by one of the streams. */
export function checkPublishSubject(subject: string): StreamName {
  const known = validPublishSubjects.get(subject);
  if (known !== undefined) return known;
  const stream = streamOfSubject(subject);
  if (stream === undefined) {
    throw new BusError("STREAM_NOT_FOUND", `no stream stores subject ${JSON.stringify(subject)}`);
  }
  if (validPublishSubjects.size >= MAX_REMEMBERED_SUBJECTS) validPublishSubjects.clear();
  validPublishSubjects.set(subject, stream);
  return stream;
}

/** A literal subject inside `stream`. */
export function checkSubjectInStream(stream: StreamName, subject: string): void {
  if (streamOfSubject(subject) !== stream) {
    throw new BusError("INVALID_ARGUMENT", `subject ${JSON.stringify(subject)} is not in stream ${stream}`);
  }
}

/** Filter subjects inside `stream`: the first token must be the stream's own. */
export function checkFilterSubjects(stream: StreamName, filters: readonly string[] | undefined): string[] {
  if (filters === undefined) return [];
  if (!Array.isArray(filters)) throw new BusError("INVALID_ARGUMENT", "filterSubjects must be an array");
  for (const filter of filters) {
    if (checkSubjectPattern(filter)[0] !== STREAMS[stream].subjectToken) {
      throw new BusError(
        "INVALID_ARGUMENT",
        `filter subject ${JSON.stringify(filter)} is not in stream ${stream}`,
      );
    }
  }
  return [...filters];
}

/** A request/reply subject: outside every stream, so a request is never stored. */
export function checkServiceSubject(subject: string, allowWildcards: boolean): void {
  const tokens = allowWildcards ? checkSubjectPattern(subject) : checkLiteralSubject(subject);
  if (streamByToken.has(tokens[0]!) || tokens[0] === "*" || tokens[0] === ">") {
    throw new BusError(
      "INVALID_ARGUMENT",
      `request subject ${JSON.stringify(subject)} must not start with a stream's token or a wildcard`,
    );
  }
}

/** NATS subject matching: `*` matches one token, a final `>` one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    const token = p[i]!;
    if (token === ">") return s.length > i;
    if (i >= s.length) return false;
    if (token !== "*" && token !== s[i]) return false;
  }
  return p.length === s.length;
}

export function checkHeaders(headers: Headers | undefined): Headers | undefined {
  if (headers === undefined) return undefined;
  if (headers === null || typeof headers !== "object") {
    throw new BusError("INVALID_ARGUMENT", "headers must be an object of strings");
  }
  let bytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name) || name.toLowerCase().startsWith("nats-")) {
      throw new BusError("INVALID_ARGUMENT", `invalid header name ${JSON.stringify(name)}`);
    }
    if (typeof value !== "string" || !HEADER_VALUE.test(value) || value.trim() !== value) {
      throw new BusError("INVALID_ARGUMENT", `invalid value for header ${name}`);
    }
    bytes += name.length + Buffer.byteLength(value) + 4;
  }
  if (bytes > MAX_HEADER_BYTES)
    throw new BusError("INVALID_ARGUMENT", `headers exceed ${MAX_HEADER_BYTES} bytes`);
  return headers;
}

export function checkMsgId(msgId: string | undefined): void {
  if (msgId === undefined) return;
  if (
    typeof msgId !== "string" ||
    msgId.length === 0 ||
    msgId.length > MAX_MSG_ID_LENGTH ||
    !/^[!-~]+$/.test(msgId)
  ) {
    throw new BusError("INVALID_ARGUMENT", `invalid msgId ${JSON.stringify(msgId)}`);
  }
}

export function checkPayload(data: Uint8Array, maxPayload: number): void {
  if (!(data instanceof Uint8Array)) throw new BusError("INVALID_ARGUMENT", "data must be a Uint8Array");
  if (data.byteLength > maxPayload) {
    throw new BusError(
      "INVALID_ARGUMENT",
      `payload of ${data.byteLength} bytes exceeds the maximum of ${maxPayload}`,
    );
  }
}

export function checkStart(start: StartPosition | undefined): StartPosition {
  if (start === undefined || start === "all" || start === "new") return start ?? "all";
  if (typeof start === "object" && start !== null) {
    if ("sequence" in start && Number.isSafeInteger(start.sequence) && start.sequence >= 1) return start;
    if ("time" in start && start.time instanceof Date && !Number.isNaN(start.time.getTime())) return start;
  }
  throw new BusError("INVALID_ARGUMENT", `invalid start ${JSON.stringify(start)}`);
}

/** A non-negative integer option, or its default. */
export function checkCount(name: string, value: number | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new BusError("INVALID_ARGUMENT", `${name} must be an integer >= ${min}`);
  }
  return value;
}

export const EMPTY_HEADERS: Headers = Object.freeze({});
