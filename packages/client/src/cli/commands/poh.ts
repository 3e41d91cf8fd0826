import { firstInvalidEntry, type PohEntry } from "@simd23/core";
import type { Command } from "commander";
import { CliError } from "../errors.js";
import { JsonReader, readJsonFile } from "../input.js";

interface PohVerifyInput {
  readonly start: Uint8Array;
  readonly entries: PohEntry[];
}

export function parsePohVerifyInput(json: unknown, source: string): PohVerifyInput {
  const root = new JsonReader(json, "");
  try {
    return {
      start: root.field("start").hex(32),
      entries: root
        .field("entries")
        .array()
        .map((entry) => {
          const mixin = entry.field("mixin");
          const numHashes = entry.field("numHashes").integer();
          if (numHashes < 1) throw new CliError(`${source}: an entry's numHashes must be at least 1`);
          return {
            numHashes,
            hash: entry.field("hash").hex(32),
            mixin: mixin.isNull() ? null : mixin.hex(32),
          };
        }),
    };
  } catch (error) {
    if (error instanceof CliError)
      throw new CliError(`${source}: ${error.message.replace(`${source}: `, "")}`);
    throw error;
  }
}

export function registerPohCommands(program: Command): void {
  const poh = program.command("poh").description("Proof of History tools");
  poh
    .command("verify")
    .argument(
      "<file>",
      'JSON {"start": hex32, "entries": [{"numHashes": n, "hash": hex32, "mixin": hex32 | null}]}',
    )
    .description(
      "verify a PoH entry chain: prints `ok`, or `invalid entry K` (the first entry that does not verify)",
    )
    .action((file: string) => {
      const input = parsePohVerifyInput(readJsonFile(file), file);
      const invalid = firstInvalidEntry(input.start, input.entries);
      if (invalid >= 0) {
        process.stdout.write(`invalid entry ${invalid}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write("ok\n");
    });
}
