import type { Command } from "commander";
import { parseSignature } from "../../keys.js";
import { isLevelName, type ProgressLevelName, type TransactionStatus } from "../../status.js";
import { addConnectionOptions, type ConnectionFlags, withClient } from "../connection.js";
import { CliError } from "../errors.js";
import { printJson, printLine, statusJson, statusLines } from "../format.js";
import { argParser, parseCount } from "../input.js";

interface StatusFlags extends ConnectionFlags {
  readonly json?: boolean;
  readonly wait?: string;
  readonly timeout: number;
}

export function registerStatusCommand(program: Command): void {
  addConnectionOptions(
    program
      .command("status")
      .argument("<signature>", "the transaction's signature (its id), base58")
      .description(
        "every confirmation level a transaction reached, with its time, and its result once executed (ok, or the error: InsufficientFunds, BlockhashNotFound, Duplicate, …)",
      )
      .option("--wait <level>", "first wait until it reaches this level (received … finalized)")
      .option("--timeout <ms>", "how long --wait waits", argParser(parseCount, "--timeout"), 60_000)
      .option(
        "--json",
        'print {"signature", "levels": {level: ISO-8601 time}, "result": "ok" | error name | null}',
      ),
  ).action(async (signatureText: string, flags: StatusFlags) => {
    parseSignature(signatureText);
    let waitFor: ProgressLevelName | undefined;
    if (flags.wait !== undefined) {
      if (!isLevelName(flags.wait) || flags.wait === "dropped")
        throw new CliError(
          `--wait: expected received, proposed, recorded, optimistic, executed or finalized, got "${flags.wait}"`,
        );
      waitFor = flags.wait;
    }
    await withClient(flags, async (client) => {
      let status: TransactionStatus;
      if (waitFor !== undefined)
        status = await client.confirm(signatureText, waitFor, { timeoutMs: flags.timeout });
      else {
        status = await client.getSignatureStatus(signatureText);
        if (!status.found)
          throw new CliError(
            `unknown signature ${signatureText}: the vote aggregator at ${client.endpoints.voteAggregator} has no record of it`,
            1,
          );
      }
      if (flags.json) printJson(statusJson(status));
      else for (const line of statusLines(status)) printLine(line);
    });
  });
}
