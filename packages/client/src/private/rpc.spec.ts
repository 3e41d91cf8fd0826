import { Metadata, status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { ConnectionError, RpcError, TransactionRejectedError } from "../errors.js";
import { describeConnectionFailure, errorFromGrpc, readGrpcFailure, submitErrorFromGrpc } from "./rpc.js";

function grpcError(code: status, details: string, reason?: string) {
  const metadata = new Metadata();
  if (reason !== undefined) metadata.set("simd23-reason", reason);
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), { code, details, metadata });
}

describe("mapping gRPC failures to typed errors", () => {
  it("reads the code, the message and the simd23-reason trailer", () => {
    expect(readGrpcFailure(grpcError(status.RESOURCE_EXHAUSTED, "queue full", "QUEUE_FULL"))).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: "queue full",
      reason: "QUEUE_FULL",
    });
    expect(readGrpcFailure(new Error("plain"))).toBeUndefined();
    expect(readGrpcFailure({ code: status.OK })).toBeUndefined();
    expect(readGrpcFailure(null)).toBeUndefined();
  });

  it("turns an unreachable endpoint into a ConnectionError naming the address", () => {
    const refused = errorFromGrpc(
      grpcError(
        status.UNAVAILABLE,
        "No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:9",
      ),
      "127.0.0.1:9",
      "GetProposerStatus",
      5_000,
    );
    expect(refused).toBeInstanceOf(ConnectionError);
    expect(refused.message).toBe("cannot reach 127.0.0.1:9: connection refused");
    expect((refused as ConnectionError).mayHaveArrived).toBe(false);
    const silent = errorFromGrpc(grpcError(status.DEADLINE_EXCEEDED, "Deadline exceeded"), "h:1", "X", 250);
    expect(silent.message).toBe("cannot reach h:1: no answer within 250 ms");
    expect((silent as ConnectionError).mayHaveArrived).toBe(true);
    const reset = errorFromGrpc(grpcError(status.UNAVAILABLE, "read ECONNRESET"), "h:1", "X", 1);
    expect(reset.message).toBe("cannot reach h:1: connection reset");
    expect((reset as ConnectionError).mayHaveArrived).toBe(true);
  });

  it("keeps any other failure as an RpcError with method, code and reason", () => {
    const error = errorFromGrpc(
      grpcError(status.FAILED_PRECONDITION, "halted", "HALTED"),
      "h:1",
      "GetAccount",
      1,
    );
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({
      code: status.FAILED_PRECONDITION,
      codeName: "FAILED_PRECONDITION",
      reason: "HALTED",
    });
    expect(error.message).toBe("GetAccount at h:1 failed: FAILED_PRECONDITION (HALTED): halted");
    // UNAVAILABLE with a reason is a refusal the server chose, not an unreachable endpoint.
    expect(errorFromGrpc(grpcError(status.UNAVAILABLE, "halted", "HALTED"), "h:1", "X", 1)).toBeInstanceOf(
      RpcError,
    );
  });

  it("turns a proposer's refusal into a TransactionRejectedError with the reason", () => {
    for (const reason of ["BAD_SIGNATURE", "QUEUE_FULL", "BLOCKHASH_EXPIRED", "HALTED", "NOT_SCHEDULED"]) {
      const error = submitErrorFromGrpc(
        grpcError(status.INVALID_ARGUMENT, "no", reason),
        "p:1",
        "SubmitTransaction",
        "SIG",
        1,
      );
      expect(error).toBeInstanceOf(TransactionRejectedError);
      expect(error).toMatchObject({ reason, address: "p:1", signature: "SIG" });
      expect(error.message).toBe(`transaction SIG rejected by p:1: ${reason}: no`);
    }
    const unnamed = submitErrorFromGrpc(
      grpcError(status.INVALID_ARGUMENT, "bad"),
      "p:1",
      "SubmitTransaction",
      "S",
      1,
    );
    expect(unnamed).toMatchObject({ reason: "UNKNOWN" });
    expect(
      submitErrorFromGrpc(
        grpcError(status.UNAVAILABLE, "connect ECONNREFUSED"),
        "p:1",
        "SubmitTransaction",
        "S",
        1,
      ),
    ).toBeInstanceOf(ConnectionError);
  });

  it("says why a connection failed in a few words", () => {
    expect(describeConnectionFailure("getaddrinfo ENOTFOUND nohost")).toBe("unknown host");
    expect(describeConnectionFailure("connect EHOSTUNREACH")).toBe("host unreachable");
    expect(describeConnectionFailure("something else\nmore")).toBe("something else");
  });
});
