import type { Bus, Replay } from "@simd23/bus";
import { EnvelopeKind, type Genesis, openEnvelope } from "@simd23/core";
import { control } from "@simd23/proto";
import type { MessageRefusals } from "./message-refusals.js";
import { subjects } from "./subjects.js";

export interface HaltWatchOptions {
  readonly bus: Bus;
  readonly genesis: Genesis;
  readonly onHalt: (halt: control.Halt) => void;
  /** A message on the halt subject that is not a valid halt signed by the genesis verifier. */
  readonly onForgery?: (detail: string) => void;
  /** Where such messages are counted (CONTROL), with the envelope's reason. */
  readonly refusals?: MessageRefusals;
}

/**
 * Watches CONTROL for a halt from the start of the stream, so a role that
 * starts after the cluster halted halts too. Only a halt signed by the genesis
 * verifier counts; anything else is reported and ignored.
 */
export class HaltWatch {
  private replay: Replay | undefined;
  private running: Promise<void> | undefined;
  private haltSeen: control.Halt | undefined;

  constructor(private readonly options: HaltWatchOptions) {}

  get halt(): control.Halt | undefined {
    return this.haltSeen;
  }

  start(): void {
    const replay = this.options.bus.replay({
      stream: "CONTROL",
      filterSubjects: [subjects.halt],
      start: "all",
    });
    this.replay = replay;
    this.running = (async () => {
      for await (const message of replay) {
        const opened = openEnvelope(this.options.genesis, message.data, EnvelopeKind.KIND_HALT);
        if (!opened.ok) {
          this.forgery(opened.error.code, opened.error.message);
          continue;
        }
        let halt: control.Halt;
        try {
          halt = control.Halt.decode(opened.envelope.body);
        } catch (error) {
          this.forgery("malformed", `a signed halt that does not decode: ${(error as Error).message}`);
          continue;
        }
        if (this.haltSeen === undefined) {
          this.haltSeen = halt;
          this.options.onHalt(halt);
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.replay?.stop();
    await this.running;
  }

  private forgery(reason: string, detail: string): void {
    this.options.refusals?.refuse("CONTROL", reason, detail);
    this.options.onForgery?.(detail);
  }
}
