import { type handleUnaryCall, Server, ServerCredentials } from "@grpc/grpc-js";
import { toHex, type WellFormedUserBlock } from "@simd23/core";
import { proposer } from "@simd23/proto";

/** A running stand-in for the proposers' repair service. */
export interface RepairServer {
  readonly address: string;
  /** The hex hash of every block asked for, in order. */
  readonly requests: string[];
  stop(): Promise<void>;
}

/**
 * A ProposerService that answers GetUserBlock from a map of blocks by hex hash
 * (a TestLedger's `blocks`), for repair; `serves(blockHashHex)` decides whether
 * a block is handed out yet. Its other methods are not served.
 */
export async function startRepairServer(
  source: { readonly blocks: ReadonlyMap<string, WellFormedUserBlock> },
  serves: (blockHashHex: string) => boolean,
): Promise<RepairServer> {
  const server = new Server();
  const requests: string[] = [];
  const getUserBlock: handleUnaryCall<proposer.GetUserBlockRequest, proposer.GetUserBlockResponse> = (
    call,
    callback,
  ) => {
    const hash = toHex(call.request.blockHash);
    requests.push(hash);
    const block = serves(hash) ? source.blocks.get(hash) : undefined;
    callback(null, { userBlock: block?.block });
  };
  const unimplemented = (_call: unknown, callback: (error: Error) => void): void =>
    callback(new Error("not served by the test repair server"));
  server.addService(proposer.ProposerServiceService, {
    getUserBlock,
    submitTransaction: unimplemented,
    submitBundle: unimplemented,
    getLatestBlockhash: unimplemented,
    getProposerStatus: unimplemented,
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    requests,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
