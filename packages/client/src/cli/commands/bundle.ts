import { burnComputeInstruction, memoInstruction, transferInstruction } from "@simd23/core";
import type { tx } from "@simd23/proto";
import type { Command } from "commander";
import { InsufficientBalanceError } from "../../errors.js";
import {
  addConnectionOptions,
  type ConnectionFlags,
  parseAccount,
  payerFrom,
  withClient,
} from "../connection.js";
import { CliError } from "../errors.js";
import { printJson, printLine } from "../format.js";
import { argParser, parseCount, parseLamports } from "../input.js";
import { addWaitOptions, awaitSignatures, type WaitFlags, waitLevel } from "./send.js";

/**
 * One transaction of a bundle from its command-line form: `transfer:<recipient>:<lamports>`,
 * `memo:<text>` or `burn:<units>`.
 */
export function parseBundleTransaction(spec: string, index: number): tx.Instruction {
  const what = `transaction ${index} ("${spec}")`;
  const colon = spec.indexOf(":");
  const kind = colon < 0 ? spec : spec.slice(0, colon);
  const rest = colon < 0 ? "" : spec.slice(colon + 1);
  switch (kind) {
    case "transfer": {
      const split = rest.lastIndexOf(":");
      if (split <= 0) throw new CliError(`${what}: expected transfer:<recipient>:<lamports>`);
      return transferInstruction(
        0,
        parseAccount(rest.slice(0, split), what),
        parseLamports(rest.slice(split + 1), what),
      );
    }
    case "memo":
      if (rest.length === 0) throw new CliError(`${what}: expected memo:<text>`);
      return memoInstruction(rest);
    case "burn": {
      const units = parseCount(rest, what);
      if (units < 1) throw new CliError(`${what}: burn needs at least 1 compute unit`);
      return burnComputeInstruction(units);
    }
    default:
      throw new CliError(`${what}: expected transfer:<recipient>:<lamports>, memo:<text> or burn:<units>`);
  }
}

interface BundleFlags extends ConnectionFlags, WaitFlags {
  readonly from?: string;
  readonly cuPrice?: bigint;
  readonly skipPreflight?: boolean;
}

export function registerBundleCommand(program: Command): void {
  addWaitOptions(
    addConnectionOptions(
      program
        .command("bundle")
        .argument(
          "<transaction...>",
          "the bundle's transactions in execution order, each transfer:<recipient>:<lamports>, memo:<text> or burn:<units>",
        )
        .description(
          "send a bundle: transactions executed together, contiguously and atomically (if one fails, all are rolled back and only fees are charged), each signed by --from",
        )
        .option(
          "--from <keyfile>",
          "the keypair file that signs and pays for every transaction (default: the faucet)",
        )
        .option(
          "--cu-price <microLamports>",
          "priority fee rate of every transaction, micro-lamports per compute unit",
          argParser(parseLamports, "--cu-price"),
        )
        .option("--skip-preflight", "do not check the payer's balance at an executor before sending"),
    ),
  ).action(async (specs: string[], flags: BundleFlags) => {
    const instructions = specs.map((spec, i) => parseBundleTransaction(spec, i));
    const level = waitLevel(flags);
    await withClient(flags, async (client) => {
      if (specs.length > client.limits.maxBundleTransactions)
        throw new CliError(
          `a bundle holds at most ${client.limits.maxBundleTransactions} transactions, got ${specs.length}`,
        );
      const payer = payerFrom(flags.from, client);
      const transactions = await client.buildBundle(
        instructions.map((instruction) => ({
          signers: [payer],
          instructions: [instruction],
          ...(flags.cuPrice === undefined ? {} : { computeUnitPrice: flags.cuPrice }),
        })),
      );
      if (!flags.skipPreflight && client.endpoints.executors.length > 0) {
        const required = transactions.reduce((sum, t) => sum + t.fee + t.transferred, 0n);
        const balance = await client.getBalance(payer.publicKey);
        if (balance.lamports < required)
          throw new InsufficientBalanceError(balance.pubkey, balance.lamports, required, balance.slot);
      }
      const sent = await client.sendBundle(transactions);
      if (flags.json) printJson({ signatures: sent.signatures });
      else for (const signature of sent.signatures) printLine(`Signature: ${signature}`);
      await awaitSignatures(client, sent.signatures, level, flags);
    });
  });
}
