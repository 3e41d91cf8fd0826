import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { bankhashverifier } from "@simd23/proto";

/** A promise-based client of the bank-hash verifier's gRPC service (for the CLI, the devnet and tests). */
export class BankHashVerifierClient {
  private readonly client: bankhashverifier.BankHashVerifierServiceClient;

  constructor(
    readonly address: string,
    private readonly timeoutMs = 5_000,
  ) {
    this.client = new bankhashverifier.BankHashVerifierServiceClient(address, credentials.createInsecure());
  }

  status(): Promise<bankhashverifier.GetVerifierStatusResponse> {
    return new Promise((resolve, reject) =>
      this.client.getVerifierStatus(
        {},
        new Metadata(),
        this.options(),
        (error: ServiceError | null, value) => (error ? reject(error) : resolve(value)),
      ),
    );
  }

  /** The stake tally of one slot the verifier executed, with the validators that mismatched there. */
  slotTally(slot: number): Promise<bankhashverifier.GetSlotTallyResponse> {
    return new Promise((resolve, reject) =>
      this.client.getSlotTally(
        { slot },
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
