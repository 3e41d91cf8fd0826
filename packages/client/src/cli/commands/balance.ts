import type { Command } from "commander";
import { addConnectionOptions, type ConnectionFlags, parseAccount, withClient } from "../connection.js";
import { CliError } from "../errors.js";
import { printJson, printLine } from "../format.js";

interface BalanceFlags extends ConnectionFlags {
  readonly json?: boolean;
}

export function registerBalanceCommand(program: Command): void {
  addConnectionOptions(
    program
      .command("balance")
      .argument("[account]", "a base58 public key or a keypair file (default: the devnet's faucet)")
      .description("an account's balance in lamports, at the newest slot any executor executed")
      .option("--json", 'print {"pubkey", "lamports" (a decimal string), "exists", "slot"}'),
  ).action(async (account: string | undefined, flags: BalanceFlags) => {
    const named = account === undefined ? undefined : parseAccount(account, "account");
    await withClient(flags, async (client) => {
      const pubkey = named ?? client.faucet?.publicKey;
      if (pubkey === undefined) throw new CliError("name the account: no devnet faucet to default to");
      const balance = await client.getBalance(pubkey);
      if (flags.json)
        printJson({
          pubkey: balance.pubkey,
          lamports: balance.lamports,
          exists: balance.exists,
          slot: balance.slot,
        });
      else printLine(`${balance.lamports} lamports${balance.exists ? "" : " (no such account)"}`);
    });
  });
}
