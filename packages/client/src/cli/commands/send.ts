import { encodeKey, type Keypair } from "@simd23/core";
import type { Command } from "commander";
import type { Simd23Client } from "../../client.js";
import { isLevelName, type ProgressLevelName, type TransactionStatus } from "../../status.js";
import {
  addConnectionOptions,
  type ConnectionFlags,
  parseAccount,
  payerFrom,
  withClient,
} from "../connection.js";
import { CliError } from "../errors.js";
import { describeResult, printJson, printLine } from "../format.js";
import { argParser, parseCount, parseLamports } from "../input.js";

/** The options of every command that sends: how long and how far to wait. */
export interface WaitFlags {
  /** A level name, or false with --no-wait. */
  readonly wait: string | false;
  readonly timeout: number;
  readonly json?: boolean;
}

export function addWaitOptions(command: Command): Command {
  return command
    .option(
      "--wait <level>",
      "wait until the transaction reaches this level: received, proposed, recorded, optimistic, executed (its result is known) or finalized",
      "executed",
    )
    .option("--no-wait", "return as soon as a proposer accepted it")
    .option("--timeout <ms>", "how long to wait", argParser(parseCount, "--timeout"), 60_000)
    .option("--json", "print machine-readable output");
}

export function waitLevel(flags: WaitFlags): ProgressLevelName | undefined {
  if (flags.wait === false) return undefined;
  if (!isLevelName(flags.wait) || flags.wait === "dropped")
    throw new CliError(
      `--wait: expected received, proposed, recorded, optimistic, executed or finalized, got "${flags.wait}"`,
    );
  return flags.wait;
}

/**
 * Waits for each signature to reach the level and reports it; a transaction that executed with
 * an error (InsufficientFunds, …) is a failure of the command.
 */
export async function awaitSignatures(
  client: Simd23Client,
  signatures: readonly string[],
  level: ProgressLevelName | undefined,
  flags: WaitFlags,
): Promise<void> {
  if (level === undefined) return;
  const started = Date.now();
  const statuses: TransactionStatus[] = await Promise.all(
    signatures.map((signature) => client.confirm(signature, level, { timeoutMs: flags.timeout })),
  );
  const failed = statuses.filter((s) => s.result !== null && !s.result.ok);
  if (!flags.json)
    for (const status of statuses)
      printLine(
        `${level} after ${Date.now() - started} ms${status.result === null ? "" : `: ${describeResult(status.result)}`}`,
      );
  const first = failed[0];
  if (first !== undefined)
    throw new CliError(
      `transaction ${first.signature} failed: ${first.result!.status} (fee ${first.result!.fee} lamports charged)`,
      1,
    );
}

interface TransferFlags extends ConnectionFlags, WaitFlags {
  readonly to?: string;
  readonly amount?: string;
  readonly from?: string;
  readonly memo?: string;
  readonly cuPrice?: bigint;
  readonly skipPreflight?: boolean;
}

function pick(positional: string | undefined, flag: string | undefined, name: string): string {
  if (positional !== undefined && flag !== undefined && positional !== flag)
    throw new CliError(`the ${name} is given twice: "${positional}" and --${name} "${flag}"`);
  const value = positional ?? flag;
  if (value === undefined) throw new CliError(`missing the ${name}: pass --${name}`);
  return value;
}

async function sendTransfer(
  client: Simd23Client,
  from: Keypair,
  to: Uint8Array,
  lamports: bigint,
  flags: TransferFlags,
): Promise<void> {
  const level = waitLevel(flags);
  const sent = await client.transfer({
    from,
    to,
    lamports,
    ...(flags.memo === undefined ? {} : { memo: flags.memo }),
    ...(flags.cuPrice === undefined ? {} : { computeUnitPrice: flags.cuPrice }),
    skipPreflight: flags.skipPreflight === true,
  });
  if (flags.json) printJson({ signature: sent.signature });
  else printLine(`Signature: ${sent.signature}`);
  await awaitSignatures(client, [sent.signature], level, flags);
}

function addTransferOptions(command: Command): Command {
  return addWaitOptions(
    addConnectionOptions(
      command
        .option("--memo <text>", "carry a memo with the transfer")
        .option(
          "--cu-price <microLamports>",
          "priority fee rate, micro-lamports per compute unit",
          argParser(parseLamports, "--cu-price"),
        )
        .option("--skip-preflight", "do not check the payer's balance at an executor before sending"),
    ),
  );
}

export function registerSendCommands(program: Command): void {
  addTransferOptions(
    program
      .command("transfer")
      .argument("[recipient]", "the receiving account: a base58 public key or a keypair file (or --to)")
      .argument("[amount]", "lamports to send (or --amount)")
      .description(
        "send lamports: signs a transfer with --from (default: the devnet's faucet), sends it to the proposer of its fee payer and waits until it executed",
      )
      .option("--to <pubkey>", "the receiving account: a base58 public key or a keypair file")
      .option("--amount <lamports>", "lamports to send")
      .option("--from <keyfile>", "the keypair file of the sender, who pays the fee (default: the faucet)"),
  ).action(async (recipient: string | undefined, amount: string | undefined, flags: TransferFlags) => {
    const to = parseAccount(pick(recipient, flags.to, "to"), "--to");
    const lamports = parseLamports(pick(amount, flags.amount, "amount"), "--amount");
    await withClient(flags, (client) =>
      sendTransfer(client, payerFrom(flags.from, client), to, lamports, flags),
    );
  });

  addTransferOptions(
    program
      .command("airdrop")
      .argument("[amount]", "lamports to request (or --amount)")
      .argument("[recipient]", "the receiving account: a base58 public key or a keypair file (or --to)")
      .description(
        "request lamports from the devnet's faucet (a transfer the faucet signs), as `solana airdrop` does",
      )
      .option("--to <pubkey>", "the receiving account")
      .option("--amount <lamports>", "lamports to request"),
  ).action(async (amount: string | undefined, recipient: string | undefined, flags: TransferFlags) => {
    const to = parseAccount(pick(recipient, flags.to, "to"), "--to");
    const lamports = parseLamports(pick(amount, flags.amount, "amount"), "--amount");
    await withClient(flags, async (client) => {
      if (client.faucet === undefined)
        throw new CliError(
          "no faucet key: run against a devnet (its file holds the cluster seed) or pass --cluster-seed",
        );
      if (!flags.json) printLine(`Requesting airdrop of ${lamports} lamports to ${encodeKey(to)}`);
      await sendTransfer(client, client.faucet, to, lamports, flags);
    });
  });
}
