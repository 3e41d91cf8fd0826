import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { executor } from "@simd23/proto";

/** A promise-based client of one executor's gRPC service (for the CLI, the devnet and tests). */
export class ExecutorClient {
  private readonly client: executor.ExecutorServiceClient;

  constructor(
    readonly address: string,
    private readonly timeoutMs = 5_000,
  ) {
    this.client = new executor.ExecutorServiceClient(address, credentials.createInsecure());
  }

  status(): Promise<executor.GetExecutorStatusResponse> {
    return new Promise((resolve, reject) =>
      this.client.getExecutorStatus(
        {},
        new Metadata(),
        this.options(),
        (error: ServiceError | null, value) => (error ? reject(error) : resolve(value)),
      ),
    );
  }

  /** The account's balance at the newest slot this validator executed. */
  account(pubkey: Uint8Array): Promise<executor.GetAccountResponse> {
    return new Promise((resolve, reject) =>
      this.client.getAccount(
        { pubkey },
        new Metadata(),
        this.options(),
        (error: ServiceError | null, value) => (error ? reject(error) : resolve(value)),
      ),
    );
  }

  close(): void {
    this.client.close();
  }

  private options() {
    return { deadline: new Date(Date.now() + this.timeoutMs) };
  }
}
