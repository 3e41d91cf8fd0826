import { type control, tx } from "@simd23/proto";
import { bytesEqual } from "../bytes.js";
import { type Fees, type Genesis, genesisHash, type Limits } from "../genesis.js";
import { HASH_BYTES } from "../hash.js";
import { PUBLIC_KEY_BYTES } from "../keys.js";
import { type OrderBlock, OrderInputError, type OrderItem, sortExecutionUnits } from "../order/order.js";
import { decodeTransactionItem, itemTransactions, type ValidItem } from "../tx/bundle.js";
import { instructionComputeUnits, SIGNATURE_COMPUTE_UNITS } from "../tx/compute.js";
import { transactionFee } from "../tx/fee.js";
import { type DecodeResult, type ValidTransaction, verifyTransactionSignatures } from "../tx/transaction.js";
import { computeBankHash, GENESIS_PARENT_BANK_HASH, perturbedBankHash } from "./bank-hash.js";
import { AccountsLattice, latticeOfAccounts } from "./lattice.js";

const Status = tx.ExecutionStatus;
const U64_MAX = (1n << 64n) - 1n;

export class BankError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BankError";
  }
}

export interface BankOptions {
  /**
   * Testnet fault injection, off when undefined: from this slot on the bank
   * reports a deliberately wrong BankHash (perturbedBankHash of the right one),
   * so the verifier's mismatch and halt paths can be exercised.
   */
  readonly faultyBankHashFromSlot?: number;
}

/** What every bank of a cluster shares, fixed by genesis. */
interface BankConfig {
  readonly genesisHash: Uint8Array;
  readonly limits: Limits;
  readonly fees: Fees;
  readonly blockhashValiditySlots: number;
  readonly faultyBankHashFromSlot: number | undefined;
}

/** A UserBlock item with its PoH position inside the block. */
export interface ExecutableItem {
  readonly item: tx.TransactionItem;
  /** The hash count of the item's entry in its UserBlock's PoH. */
  readonly pohPosition: number;
}

/** One UserBlock recorded for the UserBlockSlot being executed. */
export interface UserBlockForExecution {
  readonly proposer: Uint8Array;
  /** Position of its UserBlockEntry in the leader's PoH (distinct per block). */
  readonly entryIndex: number;
  /** Items in block order: the block's entries flattened, in order. */
  readonly items: readonly ExecutableItem[];
}

export interface ExecuteOptions {
  /**
   * Signature verification (default verifyTransactionSignatures). An executor
   * that verified in parallel beforehand passes a lookup of its results.
   */
  readonly signatureCheck?: (transaction: ValidTransaction) => boolean;
}

/** What one item (a transaction, or a bundle as one unit) did in {@link Bank.executeItems}. */
export interface ItemExecution {
  /** One result per transaction of the item, in the item's own order. */
  readonly results: readonly control.TransactionResult[];
  /**
   * Whether it paid a fee — and so changed the bank (fees, status cache,
   * signature count, perhaps accounts). An item that did not left no trace:
   * leaving it out of a TransactionEntry gives the same BankHash.
   */
  readonly charged: boolean;
}

/** Everything a snapshot carries; a frozen root bank produces it and a restored bank is built from it. */
export interface BankSnapshotState {
  readonly genesisHash: Uint8Array;
  readonly slot: number;
  readonly parentSlot: number | null;
  readonly parentBankHash: Uint8Array;
  readonly bankHash: Uint8Array;
  readonly lastPohHash: Uint8Array;
  readonly signatureCount: number;
  /** The newest UserBlockSlot executed on this fork, -1 if none. */
  readonly lastUserBlockSlot: number;
  readonly lattice: Uint8Array;
  /** Existing accounts, sorted by key. */
  readonly accounts: readonly (readonly [Uint8Array, bigint])[];
  /** Blockhashes valid in this bank: (hash, slot), sorted by slot. */
  readonly recentBlockhashes: readonly (readonly [Uint8Array, number])[];
  /** Status cache: (transaction id, slot of its blockhash), sorted by id. */
  readonly statusCache: readonly (readonly [Uint8Array, number])[];
}

/** Maps keep byte strings as latin1 text: one char per byte, cheap and reversible. */
type Key = string;
const keyOf = (bytes: Uint8Array): Key =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
const bytesOfKey = (key: Key): Uint8Array => new Uint8Array(Buffer.from(key, "latin1"));

/** Status cache buckets: slot of the blockhash → ids charged with it. A duplicate shares its original's blockhash. */
type StatusCache = Map<number, Set<Key>>;

interface Frozen {
  readonly lastPohHash: Uint8Array;
  readonly accountsHash: Uint8Array;
  readonly bankHash: Uint8Array;
  readonly lattice: AccountsLattice;
}

/**
 * The state after a slot. A child sees its parent through copy-on-write
 * overlays; freezing fixes the state and computes the BankHash; making a bank
 * the root squashes its ancestors into it and drops every other fork.
 */
export class Bank {
  private parentBank: Bank | null;
  private readonly children = new Set<Bank>();
  /** This bank's account changes (0n shadows a parent's account), or every account when this is the root. */
  private accounts = new Map<Key, bigint>();
  /** Ids that paid a fee in this bank, or on the whole rooted fork when this is the root. */
  private statusCache: StatusCache = new Map();
  /** Blockhash → slot, for every blockhash valid in this bank. */
  private readonly blockhashes: Map<Key, number>;
  private signatures = 0;
  private lastUserBlockSlotExecuted: number;
  private frozen: Frozen | null = null;
  private dropped = false;

  private constructor(
    readonly slot: number,
    readonly parentSlot: number | null,
    readonly parentBankHash: Uint8Array,
    private readonly config: BankConfig,
    parent: Bank | null,
    blockhashes: Map<Key, number>,
    lastUserBlockSlot: number,
  ) {
    this.parentBank = parent;
    this.blockhashes = blockhashes;
    this.lastUserBlockSlotExecuted = lastUserBlockSlot;
  }

  /** The slot-0 bank: the genesis accounts, frozen, with lastPohHash = genesisHash. */
  static genesis(genesis: Genesis, options: BankOptions = {}): Bank {
    const config = configOf(genesis, options);
    const bank = new Bank(0, null, GENESIS_PARENT_BANK_HASH, config, null, new Map(), -1);
    let supply = 0n;
    for (const account of genesis.accounts) {
      if (account.pubkey.length !== PUBLIC_KEY_BYTES)
        throw new BankError("a genesis account key is not 32 bytes");
      supply += account.lamports;
      if (account.lamports > 0n) bank.accounts.set(keyOf(account.pubkey), account.lamports);
    }
    if (supply > U64_MAX) throw new BankError("the genesis accounts hold more than 2^64-1 lamports in total");
    const lattice = latticeOfAccounts(genesis.accounts.map((a) => [a.pubkey, a.lamports] as const));
    bank.seal(config.genesisHash, lattice);
    return bank;
  }

  /** A frozen root bank rebuilt from a snapshot's state; the state must be checked by the caller. */
  static fromSnapshotState(state: BankSnapshotState, genesis: Genesis, options: BankOptions = {}): Bank {
    const config = configOf(genesis, options);
    if (!bytesEqual(state.genesisHash, config.genesisHash))
      throw new BankError("the snapshot belongs to another genesis");
    const blockhashes = new Map(state.recentBlockhashes.map(([hash, slot]) => [keyOf(hash), slot] as const));
    const bank = new Bank(
      state.slot,
      state.parentSlot,
      state.parentBankHash,
      config,
      null,
      blockhashes,
      state.lastUserBlockSlot,
    );
    let supply = 0n;
    for (const [pubkey, lamports] of state.accounts) {
      supply += lamports;
      bank.accounts.set(keyOf(pubkey), lamports);
    }
    if (supply > U64_MAX)
      throw new BankError("the snapshot's accounts hold more than 2^64-1 lamports in total");
    for (const [id, blockhashSlot] of state.statusCache) bank.cacheStatus(keyOf(id), blockhashSlot);
    bank.signatures = state.signatureCount;
    const lattice = AccountsLattice.fromBytes(state.lattice);
    bank.seal(state.lastPohHash, lattice);
    if (!bytesEqual(bank.bankHash, state.bankHash))
      throw new BankError("the snapshot's BankHash does not match its contents");
    return bank;
  }

  get parent(): Bank | null {
    return this.parentBank;
  }

  get isFrozen(): boolean {
    return this.frozen !== null;
  }

  /** A dropped bank was on a fork that rooting discarded, or was squashed into the root; it can no longer be used. */
  get isDropped(): boolean {
    return this.dropped;
  }

  /** Signatures of the transactions that paid a fee in this slot. */
  get signatureCount(): number {
    return this.signatures;
  }

  /** The newest UserBlockSlot executed on this fork, -1 if none. */
  get lastUserBlockSlot(): number {
    return this.lastUserBlockSlotExecuted;
  }

  get bankHash(): Uint8Array {
    return this.frozenState().bankHash;
  }

  get accountsHash(): Uint8Array {
    return this.frozenState().accountsHash;
  }

  get lastPohHash(): Uint8Array {
    return this.frozenState().lastPohHash;
  }

  /** The 2048-byte accounts lattice of a frozen bank. */
  latticeBytes(): Uint8Array {
    return this.frozenState().lattice.toBytes();
  }

  /** An account's balance in this bank; 0 when it does not exist. */
  balance(pubkey: Uint8Array): bigint {
    this.usable();
    return this.readBalance(keyOf(pubkey));
  }

  /** Whether a transaction may name this blockhash: a slot of this bank's ancestry at most blockhashValiditySlots old. */
  isBlockhashValid(blockhash: Uint8Array): boolean {
    this.usable();
    return this.blockhashes.has(keyOf(blockhash));
  }

  /** Whether a transaction id paid a fee on this fork (within the blockhash validity window). */
  hasExecuted(id: Uint8Array, recentBlockhash: Uint8Array): boolean {
    this.usable();
    const blockhashSlot = this.blockhashes.get(keyOf(recentBlockhash));
    return blockhashSlot !== undefined && this.isCached(keyOf(id), blockhashSlot);
  }

  /** A new bank for slot on top of this frozen one. */
  newChild(slot: number): Bank {
    this.usable();
    if (this.frozen === null)
      throw new BankError(`bank ${this.slot} is not frozen: it cannot have children yet`);
    if (!Number.isSafeInteger(slot) || slot <= this.slot)
      throw new BankError(`a child of slot ${this.slot} needs a later slot, got ${slot}`);
    const validity = this.config.blockhashValiditySlots;
    const blockhashes = new Map<Key, number>();
    for (const [hash, hashSlot] of this.blockhashes)
      if (slot - hashSlot <= validity) blockhashes.set(hash, hashSlot);
    if (slot - this.slot <= validity) blockhashes.set(keyOf(this.frozen.lastPohHash), this.slot);
    const child = new Bank(
      slot,
      this.slot,
      this.frozen.bankHash,
      this.config,
      this,
      blockhashes,
      this.lastUserBlockSlotExecuted,
    );
    this.children.add(child);
    return child;
  }

  /**
   * Executes one UserBlockSlot: every item of every block, in the execution
   * order of sortExecutionUnits, and returns one result per transaction in
   * that order. UserBlockSlots run in ledger order: each later than the last
   * one executed on this fork and not after this slot. Invalid input throws a
   * BankError before any state changes.
   */
  executeUserBlockSlot(
    userBlockSlot: number,
    blocks: readonly UserBlockForExecution[],
    options: ExecuteOptions = {},
  ): control.TransactionResult[] {
    this.usable();
    if (this.frozen !== null) throw new BankError(`bank ${this.slot} is frozen`);
    if (!Number.isSafeInteger(userBlockSlot) || userBlockSlot <= this.lastUserBlockSlotExecuted)
      throw new BankError(
        `UserBlockSlot ${userBlockSlot} is not after ${this.lastUserBlockSlotExecuted}, the last executed on this fork`,
      );
    if (userBlockSlot > 2 * this.slot)
      throw new BankError(`slot ${this.slot} cannot record UserBlockSlot ${userBlockSlot}: it has not ended`);
    const decoded = blocks.map((block) =>
      block.items.map(({ item }) =>
        decodeTransactionItem(item, this.config.limits, { verifySignatures: false }),
      ),
    );
    let units: ReturnType<typeof sortExecutionUnits>;
    try {
      units = sortExecutionUnits(blocks.map((block, b) => orderBlockOf(block, decoded[b]!)));
    } catch (error) {
      if (error instanceof OrderInputError)
        throw new BankError(`invalid UserBlockSlot input: ${error.message}`);
      throw error;
    }
    this.lastUserBlockSlotExecuted = userBlockSlot;
    const results: control.TransactionResult[] = [];
    const context: UnitContext = {
      userBlockSlot,
      proposer: new Uint8Array(0),
      signatureCheck: options.signatureCheck ?? verifyTransactionSignatures,
      results,
    };
    for (const unit of units) {
      const block = blocks[unit.blockIndex]!;
      const item = decoded[unit.blockIndex]![unit.itemIndex]!;
      context.proposer = block.proposer;
      if (item.ok) this.executeUnit(itemTransactions(item.value), context);
      else this.reportInvalid(block.items[unit.itemIndex]!.item, context);
    }
    return results;
  }

  /**
   * Sync mode: executes items in exactly the given order — the leader's own
   * order, as its TransactionEntries record it — with the per-item rules of
   * {@link executeUserBlockSlot} (an item that does not decode is reported
   * InvalidTransaction; each unit runs checks, fees, then instructions). No
   * ordering and no UserBlockSlot bookkeeping: results carry userBlockSlot 0
   * and no proposer. Returns one ItemExecution per item, in input order.
   */
  executeItems(items: readonly tx.TransactionItem[], options: ExecuteOptions = {}): ItemExecution[] {
    this.usable();
    if (this.frozen !== null) throw new BankError(`bank ${this.slot} is frozen`);
    const signatureCheck = options.signatureCheck ?? verifyTransactionSignatures;
    return items.map((item) => {
      const results: control.TransactionResult[] = [];
      const context: UnitContext = { userBlockSlot: 0, proposer: new Uint8Array(0), signatureCheck, results };
      const decoded = decodeTransactionItem(item, this.config.limits, { verifySignatures: false });
      if (!decoded.ok) {
        this.reportInvalid(item, context);
        return { results, charged: false };
      }
      const charged = this.executeUnit(itemTransactions(decoded.value), context);
      return { results, charged };
    });
  }

  /** Fixes the state, updates the lattice with this slot's changes and computes the BankHash. */
  freeze(lastPohHash: Uint8Array): Uint8Array {
    this.usable();
    if (this.frozen !== null) throw new BankError(`bank ${this.slot} is already frozen`);
    if (lastPohHash.length !== HASH_BYTES) throw new BankError(`lastPohHash is ${HASH_BYTES} bytes`);
    const parent = this.parentBank!;
    const lattice = parent.frozenState().lattice.clone();
    for (const [key, after] of this.accounts) lattice.update(bytesOfKey(key), parent.readBalance(key), after);
    this.seal(lastPohHash, lattice);
    return this.bankHash;
  }

  /**
   * Makes this frozen bank the root: its ancestors' state is squashed into it
   * and every bank not descending from it is dropped. Returns the dropped
   * slots (ancestors included), ascending.
   */
  makeRoot(): number[] {
    this.usable();
    if (this.frozen === null) throw new BankError(`bank ${this.slot} is not frozen: it cannot be rooted`);
    const ancestors: Bank[] = [];
    for (let bank = this.parentBank; bank !== null; bank = bank.parentBank) ancestors.push(bank);
    const oldRoot = ancestors[ancestors.length - 1];
    if (oldRoot === undefined) return [];
    const accounts = oldRoot.accounts;
    const statusCache = oldRoot.statusCache;
    for (const bank of [...ancestors.slice(0, -1).reverse(), this]) {
      for (const [key, lamports] of bank.accounts) {
        if (lamports === 0n) accounts.delete(key);
        else accounts.set(key, lamports);
      }
      for (const [blockhashSlot, ids] of bank.statusCache) {
        const bucket = statusCache.get(blockhashSlot);
        if (bucket === undefined) statusCache.set(blockhashSlot, ids);
        else for (const id of ids) bucket.add(id);
      }
    }
    // Every descendant has a later slot, so an id whose blockhash expires for
    // slot + 1 can never be looked up again.
    for (const blockhashSlot of statusCache.keys())
      if (this.slot + 1 - blockhashSlot > this.config.blockhashValiditySlots)
        statusCache.delete(blockhashSlot);
    const dropped: number[] = [];
    const pending = [oldRoot];
    for (let bank = pending.pop(); bank !== undefined; bank = pending.pop()) {
      if (bank === this) continue;
      dropped.push(bank.slot);
      pending.push(...bank.children);
      bank.drop();
    }
    this.accounts = accounts;
    this.statusCache = statusCache;
    this.parentBank = null;
    return dropped.sort((a, b) => a - b);
  }

  /** The state a snapshot carries; only a frozen root has it all in one place. */
  snapshotState(): BankSnapshotState {
    this.usable();
    const frozen = this.frozenState();
    if (this.parentBank !== null)
      throw new BankError(`bank ${this.slot} is not the root: root it before a snapshot`);
    const accounts = [...this.accounts.keys()]
      .sort()
      .map((key) => [bytesOfKey(key), this.accounts.get(key)!] as const);
    const recentBlockhashes = [...this.blockhashes]
      .sort(([ha, sa], [hb, sb]) => sa - sb || (ha < hb ? -1 : ha > hb ? 1 : 0))
      .map(([hash, slot]) => [bytesOfKey(hash), slot] as const);
    const statusCache: [Key, number][] = [];
    for (const [blockhashSlot, ids] of this.statusCache)
      for (const id of ids) statusCache.push([id, blockhashSlot]);
    statusCache.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      genesisHash: this.config.genesisHash,
      slot: this.slot,
      parentSlot: this.parentSlot,
      parentBankHash: this.parentBankHash,
      bankHash: frozen.bankHash,
      lastPohHash: frozen.lastPohHash,
      signatureCount: this.signatures,
      lastUserBlockSlot: this.lastUserBlockSlotExecuted,
      lattice: frozen.lattice.toBytes(),
      accounts,
      recentBlockhashes,
      statusCache: statusCache.map(([id, blockhashSlot]) => [bytesOfKey(id), blockhashSlot] as const),
    };
  }

  private frozenState(): Frozen {
    this.usable();
    if (this.frozen === null) throw new BankError(`bank ${this.slot} is not frozen`);
    return this.frozen;
  }

  private usable(): void {
    if (this.dropped) throw new BankError(`bank ${this.slot} was dropped by rooting`);
  }

  private drop(): void {
    this.dropped = true;
    this.accounts = new Map();
    this.statusCache = new Map();
    this.children.clear();
    this.parentBank = null;
  }

  private seal(lastPohHash: Uint8Array, lattice: AccountsLattice): void {
    const accountsHash = lattice.checksum();
    let bankHash = computeBankHash(this.parentBankHash, accountsHash, this.signatures, lastPohHash);
    const faultFrom = this.config.faultyBankHashFromSlot;
    if (faultFrom !== undefined && this.slot >= faultFrom) bankHash = perturbedBankHash(bankHash);
    this.frozen = { lastPohHash: Uint8Array.from(lastPohHash), accountsHash, bankHash, lattice };
  }

  private readBalance(key: Key): bigint {
    for (let bank: Bank | null = this; bank !== null; bank = bank.parentBank) {
      const lamports = bank.accounts.get(key);
      if (lamports !== undefined) return lamports;
    }
    return 0n;
  }

  private isCached(id: Key, blockhashSlot: number): boolean {
    for (let bank: Bank | null = this; bank !== null; bank = bank.parentBank)
      if (bank.statusCache.get(blockhashSlot)?.has(id)) return true;
    return false;
  }

  private cacheStatus(id: Key, blockhashSlot: number): void {
    let bucket = this.statusCache.get(blockhashSlot);
    if (bucket === undefined) {
      bucket = new Set();
      this.statusCache.set(blockhashSlot, bucket);
    }
    bucket.add(id);
  }

  private report(context: UnitContext, signature: Uint8Array, status: tx.ExecutionStatus, fee: bigint): void {
    context.results.push({
      signature,
      status,
      fee,
      slot: this.slot,
      userBlockSlot: context.userBlockSlot,
      proposer: context.proposer,
    });
  }

  private reportInvalid(item: tx.TransactionItem, context: UnitContext): void {
    const wires =
      item.item?.$case === "transaction"
        ? [item.item.value]
        : item.item?.$case === "bundle"
          ? item.item.value.transactions
          : [];
    for (const wire of wires)
      this.report(
        context,
        wire.signatures[0] ?? new Uint8Array(0),
        Status.EXECUTION_STATUS_INVALID_TRANSACTION,
        0n,
      );
  }

  /**
   * One transaction, or a bundle as one atomic unit (a single transaction is a
   * bundle of one):
   *  1. checks, in order, per transaction: signature, blockhash, duplicate.
   *     One failing drops the unit: no fee, nothing cached; the failing
   *     transaction has its status, the others BundleRolledBack.
   *  2. fees, in order, from the state before the unit: each payer that can
   *     pay is charged and its id cached; one that cannot is
   *     InsufficientFundsForFee and the unit runs no instruction.
   *  3. instructions, in order, on a scratch state, metered: the first failure
   *     discards the scratch (fees stay); otherwise it is committed.
   * Returns whether any transaction of the unit paid its fee.
   */
  private executeUnit(transactions: readonly ValidTransaction[], context: UnitContext): boolean {
    const count = transactions.length;
    const statuses: tx.ExecutionStatus[] = new Array(count).fill(Status.EXECUTION_STATUS_BUNDLE_ROLLED_BACK);
    const fees: bigint[] = new Array(count).fill(0n);
    const emit = () => {
      for (let i = 0; i < count; i++) this.report(context, transactions[i]!.id, statuses[i]!, fees[i]!);
    };
    const blockhashSlots: number[] = [];
    for (let i = 0; i < count; i++) {
      const transaction = transactions[i]!;
      const blockhashSlot = this.blockhashes.get(keyOf(transaction.message.recentBlockhash));
      let failure: tx.ExecutionStatus | null = null;
      if (!context.signatureCheck(transaction)) failure = Status.EXECUTION_STATUS_SIGNATURE_FAILURE;
      else if (blockhashSlot === undefined) failure = Status.EXECUTION_STATUS_BLOCKHASH_NOT_FOUND;
      else if (this.isCached(keyOf(transaction.id), blockhashSlot))
        failure = Status.EXECUTION_STATUS_DUPLICATE;
      if (failure !== null) {
        statuses[i] = failure;
        emit();
        return false;
      }
      blockhashSlots.push(blockhashSlot!);
    }
    let everyFeePaid = true;
    let anyFeePaid = false;
    for (let i = 0; i < count; i++) {
      const transaction = transactions[i]!;
      const fee = transactionFee(transaction, this.config.fees).total;
      const payer = keyOf(transaction.feePayer);
      const balance = this.readBalance(payer);
      if (balance < fee) {
        statuses[i] = Status.EXECUTION_STATUS_INSUFFICIENT_FUNDS_FOR_FEE;
        everyFeePaid = false;
        continue;
      }
      this.accounts.set(payer, balance - fee);
      fees[i] = fee;
      this.cacheStatus(keyOf(transaction.id), blockhashSlots[i]!);
      this.signatures += transaction.signatureCount;
      anyFeePaid = true;
    }
    if (!everyFeePaid) {
      emit();
      return anyFeePaid;
    }
    const scratch = new Map<Key, bigint>();
    for (let i = 0; i < count; i++) {
      const failure = this.runInstructions(transactions[i]!, scratch);
      if (failure !== null) {
        statuses[i] = failure;
        emit();
        return true;
      }
    }
    for (const [key, lamports] of scratch) this.accounts.set(key, lamports);
    statuses.fill(Status.EXECUTION_STATUS_OK);
    emit();
    return true;
  }

  /** Runs a transaction's instructions into scratch; returns the failure status, or null. */
  private runInstructions(
    transaction: ValidTransaction,
    scratch: Map<Key, bigint>,
  ): tx.ExecutionStatus | null {
    const { message } = transaction;
    const read = (key: Key) => scratch.get(key) ?? this.readBalance(key);
    let consumed = SIGNATURE_COMPUTE_UNITS * transaction.signatureCount;
    if (consumed > message.computeUnitLimit) return Status.EXECUTION_STATUS_COMPUTE_BUDGET_EXCEEDED;
    for (const instruction of message.instructions) {
      consumed += instructionComputeUnits(instruction);
      if (consumed > message.computeUnitLimit) return Status.EXECUTION_STATUS_COMPUTE_BUDGET_EXCEEDED;
      if (instruction.kind?.$case !== "transfer") continue;
      const { fromSigner, to, lamports } = instruction.kind.value;
      const from = keyOf(message.signers[fromSigner]!);
      const fromBalance = read(from);
      if (fromBalance < lamports) return Status.EXECUTION_STATUS_INSUFFICIENT_FUNDS;
      scratch.set(from, fromBalance - lamports);
      const receiver = keyOf(to);
      scratch.set(receiver, read(receiver) + lamports);
    }
    return null;
  }
}

interface UnitContext {
  readonly userBlockSlot: number;
  proposer: Uint8Array;
  readonly signatureCheck: (transaction: ValidTransaction) => boolean;
  readonly results: control.TransactionResult[];
}

function configOf(genesis: Genesis, options: BankOptions): BankConfig {
  const fault = options.faultyBankHashFromSlot;
  if (fault !== undefined && (!Number.isSafeInteger(fault) || fault < 0))
    throw new BankError(`faultyBankHashFromSlot must be a slot, got ${fault}`);
  return {
    genesisHash: genesisHash(genesis),
    limits: genesis.limits,
    fees: genesis.fees,
    blockhashValiditySlots: genesis.timing.blockhashValiditySlots,
    faultyBankHashFromSlot: fault,
  };
}

/**
 * An item as the order sees it. Ids do not matter to the sort (the bank checks
 * duplicates against what actually paid); an item that does not decode is
 * ordered as a zero-price, one-unit transaction and reported invalid.
 */
function orderBlockOf(block: UserBlockForExecution, decoded: readonly DecodeResult<ValidItem>[]): OrderBlock {
  const items = block.items.map(({ pohPosition }, i): OrderItem => {
    const item = decoded[i]!;
    if (!item.ok) return { id: "", cuPrice: 0n, cuLimit: 1, pohPosition };
    if (item.value.kind === "transaction") {
      const t = item.value.transaction;
      return { id: "", cuPrice: t.computeUnitPrice, cuLimit: t.computeUnitLimit, pohPosition };
    }
    const bundle = item.value.bundle.transactions.map((t) => ({
      id: "",
      cuPrice: t.computeUnitPrice,
      cuLimit: t.computeUnitLimit,
    }));
    return { bundle, pohPosition };
  });
  return { proposer: "", entryIndex: block.entryIndex, items };
}

/** The slot-0 bank of a genesis (see Bank.genesis). */
export function createGenesisBank(genesis: Genesis, options: BankOptions = {}): Bank {
  return Bank.genesis(genesis, options);
}
