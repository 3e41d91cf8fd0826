import { Client, credentials, Metadata, type ServiceError, status } from "@grpc/grpc-js";
import { bankhashverifier, executor, leader, proposer, voteaggregator } from "@simd23/proto";
import fc from "fast-check";
import { parseExposition } from "../metrics/exposition.js";
import type { Replica } from "./cluster.js";

// What the bad-input suites throw at the cluster and how they read its answers: raw gRPC calls
// (bytes in, status out, bypassing the generated serializers), byte mutations, metric reads.

/** Cases per property: bounded by default so the suite stays quick; SIMD23_FUZZ_RUNS=<n> for more. */
export const FUZZ_RUNS = runsFromEnv(process.env.SIMD23_FUZZ_RUNS);

function runsFromEnv(value: string | undefined): number {
  if (value === undefined || value === "") return 12;
  const runs = Number(value);
  if (!Number.isSafeInteger(runs) || runs < 1)
    throw new Error(`SIMD23_FUZZ_RUNS must be a positive integer, got ${JSON.stringify(value)}`);
  return runs;
}

type Role = Replica["options"]["role"];

/** Every gRPC method of the five services, with the role that serves it. */
export interface GrpcMethod {
  readonly role: Role;
  readonly name: string;
  readonly path: string;
  readonly responseStream: boolean;
}

const SERVICES: readonly { role: Role; definition: Record<string, unknown> }[] = [
  { role: "proposer", definition: proposer.ProposerServiceService },
  { role: "leader", definition: leader.LeaderServiceService },
  { role: "executor", definition: executor.ExecutorServiceService },
  { role: "vote-aggregator", definition: voteaggregator.VoteAggregatorServiceService },
  { role: "bank-hash-verifier", definition: bankhashverifier.BankHashVerifierServiceService },
];

export const GRPC_METHODS: readonly GrpcMethod[] = SERVICES.flatMap(({ role, definition }) =>
  Object.values(definition).map((method) => {
    const { path, responseStream } = method as { path: string; responseStream: boolean };
    return { role, name: path.slice(path.lastIndexOf("/") + 1), path, responseStream };
  }),
);

/** How a call ended: answered (a response, or a stream that stayed open) or refused with a status. */
export type CallOutcome =
  | { readonly answered: true }
  | {
      readonly answered: false;
      readonly code: status;
      readonly codeName: string;
      readonly reason: string | undefined;
      readonly message: string;
    };

const identity = (bytes: Buffer): Buffer => bytes;
/** A server stream still open this long after the call is taken as answered. */
const STREAM_OPEN_MS = 150;

function refusalOf(error: ServiceError): CallOutcome {
  const reason = error.metadata?.get("simd23-reason")[0];
  return {
    answered: false,
    code: error.code,
    codeName: status[error.code] ?? String(error.code),
    reason: typeof reason === "string" ? reason : undefined,
    message: error.details,
  };
}

/** Sends `bytes` as the request of `method`, exactly as given. */
export function rawCall(client: Client, method: GrpcMethod, bytes: Uint8Array): Promise<CallOutcome> {
  const request = Buffer.from(bytes);
  const deadline = Date.now() + 10_000;
  if (!method.responseStream)
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        method.path,
        identity,
        identity,
        request,
        new Metadata(),
        { deadline },
        (error) => resolve(error ? refusalOf(error) : { answered: true }),
      );
    });
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(method.path, identity, identity, request, new Metadata(), {
      deadline,
    });
    let settled = false;
    const answered = () => {
      if (settled) return;
      settled = true;
      clearTimeout(open);
      call.cancel();
      resolve({ answered: true });
    };
    const open = setTimeout(answered, STREAM_OPEN_MS);
    call.on("data", answered);
    call.on("end", answered);
    call.on("error", (error: ServiceError) => {
      if (settled) return;
      settled = true;
      clearTimeout(open);
      resolve(refusalOf(error));
    });
  });
}

/** A unary call whose response is wanted: its bytes, or the refusal thrown. */
export function rawCallDecoded(client: Client, method: GrpcMethod, bytes: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      method.path,
      identity,
      identity,
      Buffer.from(bytes),
      new Metadata(),
      { deadline: Date.now() + 10_000 },
      (error, response) => (error || response === undefined ? reject(error) : resolve(response)),
    );
  });
}

export function grpcClient(address: string): Client {
  return new Client(address, credentials.createInsecure());
}

/** A typed refusal: a status the service chose (never INTERNAL or UNKNOWN) with a reason name. */
export function isTypedRefusal(outcome: CallOutcome): boolean {
  return (
    !outcome.answered &&
    outcome.code !== status.INTERNAL &&
    outcome.code !== status.UNKNOWN &&
    outcome.reason !== undefined &&
    /^[A-Z][A-Z0-9_]*$/.test(outcome.reason)
  );
}

/** One edit of a byte string; positions are taken modulo its length, so any edit applies to any input. */
export type Edit =
  | { readonly op: "flip"; readonly at: number; readonly bit: number }
  | { readonly op: "truncate"; readonly at: number }
  | { readonly op: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: "delete"; readonly at: number; readonly length: number };

const position = fc.nat({ max: 1 << 16 });
const flip = fc.record({
  op: fc.constant("flip" as const),
  at: position,
  bit: fc.integer({ min: 0, max: 7 }),
});
const truncate = fc.record({ op: fc.constant("truncate" as const), at: position });
const insert = fc.record({
  op: fc.constant("insert" as const),
  at: position,
  bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
});
const remove = fc.record({
  op: fc.constant("delete" as const),
  at: position,
  length: fc.integer({ min: 1, max: 16 }),
});

/** Any edit: for gRPC requests, where an edit that keeps a request valid is a fair answer too. */
export const anyEdit: fc.Arbitrary<Edit> = fc.oneof(flip, truncate, insert, remove);
/**
 * Edits that always change what a signed envelope covers (its kind, body, signer or signature):
 * bit flips and truncations. Inserting bytes could add an unknown field that decoding skips,
 * turning the mutation into a replay of the original message.
 */
export const contentEdit: fc.Arbitrary<Edit> = fc.oneof(flip, truncate);

export function applyEdits(input: Uint8Array, edits: readonly Edit[]): Uint8Array {
  let bytes = Uint8Array.from(input);
  for (const edit of edits) {
    const at = bytes.length === 0 ? 0 : edit.at % bytes.length;
    switch (edit.op) {
      case "flip":
        if (bytes.length > 0) bytes[at]! ^= 1 << edit.bit;
        break;
      case "truncate":
        bytes = bytes.slice(0, at);
        break;
      case "insert":
        bytes = Uint8Array.from([...bytes.slice(0, at), ...edit.bytes, ...bytes.slice(at)]);
        break;
      case "delete":
        bytes = Uint8Array.from([...bytes.slice(0, at), ...bytes.slice(at + edit.length)]);
        break;
    }
  }
  return bytes;
}

export type FuzzedInput = { readonly how: "random" | "mutated" | "structured"; readonly bytes: Uint8Array };

/**
 * Random bytes; or one of `exemplars` with 1 to 4 edits that leave it different; or, when given,
 * `structured`: well-formed protobuf whose field values are arbitrary.
 */
export function fuzzedBytes(
  exemplars: readonly Uint8Array[],
  edits: fc.Arbitrary<Edit>,
  structured?: fc.Arbitrary<Uint8Array>,
): fc.Arbitrary<FuzzedInput> {
  const kinds: fc.Arbitrary<FuzzedInput>[] = [
    fc.uint8Array({ maxLength: 600 }).map((bytes) => ({ how: "random" as const, bytes })),
  ];
  if (exemplars.length > 0)
    kinds.push(
      fc
        .tuple(fc.constantFrom(...exemplars), fc.array(edits, { minLength: 1, maxLength: 4 }))
        .map(([exemplar, list]) => ({ exemplar, bytes: applyEdits(exemplar, list) }))
        .filter(({ exemplar, bytes }) => Buffer.compare(Buffer.from(exemplar), Buffer.from(bytes)) !== 0)
        .map(({ bytes }) => ({ how: "mutated" as const, bytes })),
    );
  if (structured !== undefined)
    kinds.push(structured.map((bytes) => ({ how: "structured" as const, bytes })));
  return fc.oneof(...kinds);
}

/** A replica's metric, summed over the series whose labels include `labels`. */
export async function metricSum(
  replica: Replica,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): Promise<number> {
  const response = await fetch(replica.metricsUrl);
  const family = parseExposition(await response.text()).get(name);
  return (family?.samples ?? [])
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

/** `simd23_<role>`: the role's folder name with `-` turned into `_` (docs/metrics.md). */
const prefixOf = (replica: Replica): string => `simd23_${replica.options.role.replaceAll("-", "_")}`;

/** `simd23_<role>_messages_refused_total` of one replica, for one stream and optionally one reason. */
export function refusedMessages(replica: Replica, stream: string, reason?: string): Promise<number> {
  return metricSum(replica, `${prefixOf(replica)}_messages_refused_total`, {
    stream: stream.toLowerCase(),
    ...(reason === undefined ? {} : { reason }),
  });
}

/** gRPC calls of a replica that ended INTERNAL or UNKNOWN: an error no handler chose. */
export function untypedGrpcErrors(replica: Replica): Promise<number> {
  const name = `${prefixOf(replica)}_grpc_requests_total`;
  return Promise.all([
    metricSum(replica, name, { code: "INTERNAL" }),
    metricSum(replica, name, { code: "UNKNOWN" }),
  ]).then(([internal, unknown]) => internal + unknown);
}
