import type { tx } from "@simd23/proto";
import { utf8 } from "../bytes.js";
import {
  createTestnetGenesis,
  type Genesis,
  type TestnetGenesisOptions,
  validateGenesis,
} from "../genesis.js";
import { sha256 } from "../hash.js";
import { type Keypair, keypairFromSeed } from "../keys.js";
import { buildTransaction, transferInstruction, type ValidTransaction } from "../tx/transaction.js";
import type { UserBlockForExecution } from "./bank.js";

/**
 * Shared by the bank specs and the bank bench: a small cluster whose users
 * start with known balances, and builders for transactions and UserBlocks.
 */

const userKeys = new Map<number, Keypair>();

/** Test user i: a keypair derived from its index. */
export function user(i: number): Keypair {
  let keypair = userKeys.get(i);
  if (keypair === undefined) {
    keypair = keypairFromSeed(sha256(utf8(`simd23/bank-fixture/user/${i}`)));
    userKeys.set(i, keypair);
  }
  return keypair;
}

/** A genesis whose users 0..balances.length-1 hold the given lamports (blockhashes valid 4 slots by default). */
export function fixtureGenesis(
  balances: readonly bigint[],
  overrides: Partial<Pick<TestnetGenesisOptions, "timing" | "limits" | "fees">> = {},
): Genesis {
  const base = createTestnetGenesis({
    clusterName: "bank-fixture",
    clusterSeed: sha256(utf8("bank-fixture")),
    startTimeMs: 0n,
    validators: 1,
    proposerPool: 1,
    faucetLamports: 1_000_000n,
    timing: { blockhashValiditySlots: 4, ...overrides.timing },
    ...(overrides.limits ? { limits: overrides.limits } : {}),
    ...(overrides.fees ? { fees: overrides.fees } : {}),
  });
  return validateGenesis({
    ...base,
    accounts: [...base.accounts, ...balances.map((lamports, i) => ({ pubkey: user(i).publicKey, lamports }))],
    validators: [...base.validators],
    proposerPool: [...base.proposerPool],
  });
}

export interface TransferOptions {
  readonly blockhash: Uint8Array;
  readonly computeUnitPrice?: bigint;
  readonly computeUnitLimit?: number;
  /** Extra instructions after the transfer. */
  readonly instructions?: readonly tx.Instruction[];
  readonly limits?: Genesis["limits"];
}

/** A signed transfer from one keypair (the fee payer) to a key. */
export function transfer(
  from: Keypair,
  to: Uint8Array,
  lamports: bigint,
  options: TransferOptions,
): ValidTransaction {
  return buildTransaction(
    {
      recentBlockhash: options.blockhash,
      computeUnitLimit: options.computeUnitLimit ?? 10_000,
      computeUnitPrice: options.computeUnitPrice ?? 0n,
      instructions: [transferInstruction(0, to, lamports), ...(options.instructions ?? [])],
    },
    [from],
    options.limits ?? { maxTransactionBytes: 1232, maxTransactionComputeUnits: 1_400_000 },
  );
}

/** A UserBlock of transactions and bundles (arrays), one per PoH entry: item i at position i + 1. */
export function userBlock(
  proposerIndex: number,
  entryIndex: number,
  items: readonly (ValidTransaction | readonly ValidTransaction[])[],
): UserBlockForExecution {
  return {
    proposer: sha256(utf8(`simd23/bank-fixture/proposer/${proposerIndex}`)),
    entryIndex,
    items: items.map((item, i) => ({
      item: Array.isArray(item)
        ? { item: { $case: "bundle", value: { transactions: item.map((t) => t.wire) } } }
        : { item: { $case: "transaction", value: (item as ValidTransaction).wire } },
      pohPosition: i + 1,
    })),
  };
}

/** The last PoH hash a fixture slot ends with. */
export function pohHashOf(slot: number, fork = ""): Uint8Array {
  return sha256(utf8(`simd23/bank-fixture/poh/${fork}/${slot}`));
}
