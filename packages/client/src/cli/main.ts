#!/usr/bin/env node
import { Command, CommanderError } from "commander";
import { registerBalanceCommand } from "./commands/balance.js";
import { registerBundleCommand } from "./commands/bundle.js";
import { registerDevnetCommand } from "./commands/devnet.js";
import { registerGenesisCommand } from "./commands/genesis.js";
import { registerKeygenCommand } from "./commands/keygen.js";
import { registerLoadCommand } from "./commands/load.js";
import { registerOrderCommand } from "./commands/order.js";
import { registerPohCommands } from "./commands/poh.js";
import { registerSendCommands } from "./commands/send.js";
import { registerStatusCommand } from "./commands/status.js";
import { registerWatchCommand } from "./commands/watch.js";
import { errorLine, exitCodeOf } from "./errors.js";

const program = new Command("simd23")
  .description("Run and inspect a SIMD-0023 testnet: asynchronous program execution and broadcast")
  .exitOverride();

registerGenesisCommand(program);
registerPohCommands(program);
registerKeygenCommand(program);
registerSendCommands(program);
registerBundleCommand(program);
registerBalanceCommand(program);
registerStatusCommand(program);
registerWatchCommand(program);
registerLoadCommand(program);
registerOrderCommand(program);
registerDevnetCommand(program);

// Usage errors print as one line that says where the usage is, never the whole help.
function oneLineErrors(command: Command, path: string): void {
  command.configureOutput({
    outputError: (message, write) =>
      write(`${message.trim().replace(/\s*\n\s*/g, " ")} (see \`${path} --help\`)\n`),
  });
  for (const sub of command.commands) oneLineErrors(sub, `${path} ${sub.name()}`);
}
oneLineErrors(program, "simd23");

// A closed pipe (`simd23 … | head`) ends the output, not the process with a stack trace.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
});

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`${errorLine(error)}\n`);
    if (process.env.SIMD23_DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    process.exitCode = exitCodeOf(error);
  }
}
