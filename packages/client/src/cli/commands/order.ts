import { readFileSync } from "node:fs";
import { executionOrderIds, OrderInputError, orderUserBlockSlot, parseOrderInput } from "@simd23/core";
import type { Command } from "commander";
import { CliError } from "../errors.js";
import { printJson } from "../format.js";

/** The ids of an order file in execution order, and those skipped as duplicates. */
export function orderFile(
  text: string,
  source: string,
): { userBlockSlot: number | null; ids: string[]; skipped: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new CliError(`${source}: not JSON: ${(error as Error).message}`);
  }
  let userBlockSlot: number | null = null;
  if (typeof json === "object" && json !== null && !Array.isArray(json) && "userBlockSlot" in json) {
    const u = (json as { userBlockSlot: unknown }).userBlockSlot;
    if (typeof u !== "number" || !Number.isSafeInteger(u) || u < 0)
      throw new CliError(`${source}: userBlockSlot: must be a non-negative integer`);
    userBlockSlot = u;
  }
  try {
    const input = parseOrderInput(json);
    const units = orderUserBlockSlot(input.blocks, (id) => input.alreadyExecuted.has(id));
    return {
      userBlockSlot,
      ids: executionOrderIds(units),
      skipped: units.filter((u) => u.duplicate).flatMap((u) => u.ids),
    };
  } catch (error) {
    if (error instanceof OrderInputError) throw new CliError(`${source}: ${error.message}`);
    throw error;
  }
}

export function registerOrderCommand(program: Command): void {
  program
    .command("order")
    .argument(
      "<file>",
      'JSON {"userBlockSlot": u, "blocks": [{"proposer", "entryIndex", "items": [{"id", "cuPrice", "cuLimit", "pohPosition"} | {"bundle": [{"id", "cuPrice", "cuLimit"}], "pohPosition"}]}], "alreadyExecuted"?: [id]}',
    )
    .description(
      "print the transaction ids of one UserBlockSlot in execution order, one per line: priority fee rate (descending), PoH position, UserBlockEntry order, index in the block; a bundle's transactions together; an id that already ran is skipped, and a bundle holding one is skipped whole",
    )
    .option("--json", 'print {"userBlockSlot", "ids": [...], "skipped": [...]}')
    .action((file: string, options: { json?: boolean }) => {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (error) {
        throw new CliError(
          `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
        );
      }
      const result = orderFile(text, file);
      if (options.json) printJson(result);
      else if (result.ids.length > 0) process.stdout.write(`${result.ids.join("\n")}\n`);
    });
}
