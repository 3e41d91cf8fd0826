import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { toBase58 } from "@simd23/core";
import { proposer, type tx } from "@simd23/proto";
import type { ProposerDirectory, ProposerEntry } from "@simd23/runtime";
import { type Rejection, readRejection } from "@simd23/service-kit";

export type ForwardResult =
  | {
      readonly ok: true;
      readonly response: proposer.SubmitTransactionResponse | proposer.SubmitBundleResponse;
    }
  /** The target answered with a typed refusal. */
  | { readonly ok: false; readonly refused: Rejection }
  /** No address, no answer, or an untyped error: the caller keeps the item. */
  | { readonly ok: false; readonly unreachable: string };

/**
 * Sends transactions on to other proposers over gRPC, marked `forwarded` so
 * they are never forwarded again. Addresses come from the ProposerDirectory,
 * read at most once per `directoryTtlMs`; clients are kept per address.
 */
export class Forwarder {
  private readonly clients = new Map<string, proposer.ProposerServiceClient>();
  private directory: { readonly at: number; readonly entries: readonly ProposerEntry[] } | undefined;
  private reading: Promise<readonly ProposerEntry[]> | undefined;

  constructor(
    private readonly proposers: ProposerDirectory,
    private readonly options: { readonly timeoutMs: number; readonly directoryTtlMs: number },
  ) {}

  /** The live replica holding a proposer identity, if any. */
  async addressOf(identity: Uint8Array): Promise<string | undefined> {
    const id = toBase58(identity);
    return (await this.entries()).find((entry) => entry.identity === id)?.address;
  }

  async forwardTransaction(target: Uint8Array, transaction: tx.Transaction): Promise<ForwardResult> {
    return this.call(target, (client, deadline, done) =>
      client.submitTransaction({ transaction, forwarded: true }, new Metadata(), { deadline }, done),
    );
  }

  async forwardBundle(target: Uint8Array, bundle: tx.Bundle): Promise<ForwardResult> {
    return this.call(target, (client, deadline, done) =>
      client.submitBundle({ bundle, forwarded: true }, new Metadata(), { deadline }, done),
    );
  }

  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  private async call<R extends proposer.SubmitTransactionResponse | proposer.SubmitBundleResponse>(
    target: Uint8Array,
    send: (
      client: proposer.ProposerServiceClient,
      deadline: Date,
      done: (error: ServiceError | null, response: R) => void,
    ) => void,
  ): Promise<ForwardResult> {
    const address = await this.addressOf(target);
    if (address === undefined) return { ok: false, unreachable: "no live replica holds its key" };
    const client = this.clientFor(address);
    const deadline = new Date(Date.now() + this.options.timeoutMs);
    return new Promise<ForwardResult>((resolve) => {
      send(client, deadline, (error, response) => {
        if (error === null) return resolve({ ok: true, response });
        const rejection = readRejection(error);
        if (rejection?.reason !== undefined) return resolve({ ok: false, refused: rejection });
        this.directory = undefined;
        resolve({ ok: false, unreachable: `${address}: ${error.message}` });
      });
    });
  }

  private clientFor(address: string): proposer.ProposerServiceClient {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new proposer.ProposerServiceClient(address, credentials.createInsecure());
      this.clients.set(address, client);
    }
    return client;
  }

  private async entries(): Promise<readonly ProposerEntry[]> {
    const cached = this.directory;
    if (cached !== undefined && Date.now() - cached.at < this.options.directoryTtlMs) return cached.entries;
    this.reading ??= this.proposers
      .list()
      .then((entries) => {
        this.directory = { at: Date.now(), entries };
        return entries;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }
}
