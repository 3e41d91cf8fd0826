import { join, resolve } from "node:path";
import { encodeKey } from "@simd23/core";
import type { Command } from "commander";
import { simd23Home } from "../../devnet/file.js";
import { generateKeypair, writeKeypairFile } from "../../keys.js";
import { printJson, printLine } from "../format.js";

/** Where `keygen` writes a new key when no --outfile is given: `<home>/keys/<pubkey>.json`. */
export function defaultKeyPath(pubkey: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(simd23Home(env), "keys", `${pubkey}.json`);
}

export function registerKeygenCommand(program: Command): void {
  program
    .command("keygen")
    .description(
      "generate a keypair and write it as a Solana CLI keypair file (a JSON array of 64 numbers: seed, then public key)",
    )
    .option("-o, --outfile <file>", "where to write it (default: <home>/keys/<pubkey>.json)")
    .option("--force", "overwrite the file if it exists")
    .option("--json", 'print {"pubkey", "path"}')
    .action((options: { outfile?: string; force?: boolean; json?: boolean }) => {
      const keypair = generateKeypair();
      const pubkey = encodeKey(keypair.publicKey);
      const path = resolve(options.outfile ?? defaultKeyPath(pubkey));
      writeKeypairFile(path, keypair, { overwrite: options.force === true });
      if (options.json) printJson({ pubkey, path });
      else {
        printLine(`Wrote new keypair to ${path}`);
        printLine(`pubkey: ${pubkey}`);
      }
    });
}
