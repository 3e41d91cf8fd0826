import { type OrderBlock, OrderInputError, type OrderItem, type OrderTransaction } from "./order.js";

/**
 * What `simd23 order FILE` reads: the blocks recorded for one UserBlockSlot,
 * and the ids already executed on the fork (its status cache).
 */
export interface OrderInput {
  readonly blocks: readonly OrderBlock[];
  readonly alreadyExecuted: ReadonlySet<string>;
}

type Json = Record<string, unknown>;

function object(value: unknown, path: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new OrderInputError(path, "must be an object");
  return value as Json;
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw new OrderInputError(path, "must be an array");
  return value;
}

function integer(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0)
    throw new OrderInputError(path, "must be a non-negative integer");
  return value;
}

function string(value: unknown, path: string): string {
  if (typeof value !== "string") throw new OrderInputError(path, "must be a string");
  return value;
}

/** A u64 as a JSON integer or, beyond 2^53, a decimal string. */
function u64(value: unknown, path: string): bigint {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === "string" && /^\d{1,20}$/.test(value) && BigInt(value) < 1n << 64n)
    return BigInt(value);
  throw new OrderInputError(path, "must be a u64: an integer, or a decimal string");
}

function transaction(value: unknown, path: string): OrderTransaction {
  const t = object(value, path);
  return {
    id: string(t.id, `${path}.id`),
    cuPrice: u64(t.cuPrice, `${path}.cuPrice`),
    cuLimit: integer(t.cuLimit, `${path}.cuLimit`),
  };
}

function item(value: unknown, path: string): OrderItem {
  const raw = object(value, path);
  const pohPosition = integer(raw.pohPosition, `${path}.pohPosition`);
  if ("bundle" in raw) {
    const bundle = array(raw.bundle, `${path}.bundle`).map((t, j) => transaction(t, `${path}.bundle[${j}]`));
    return { bundle, pohPosition };
  }
  return { ...transaction(raw, path), pohPosition };
}

/**
 * Reads the order input from parsed JSON: either an array of blocks, or
 * `{ "blocks": [...], "alreadyExecuted": ["id", ...] }`. A block is
 * `{ proposer, entryIndex, items: [ { id, cuPrice, cuLimit, pohPosition } |
 * { bundle: [ { id, cuPrice, cuLimit } ... ], pohPosition } ] }`.
 * Throws an OrderInputError naming the first bad field.
 */
export function parseOrderInput(json: unknown): OrderInput {
  const wrapped = !Array.isArray(json);
  const root = wrapped ? object(json, "input") : {};
  const blocksJson = wrapped ? array(root.blocks, "blocks") : (json as unknown[]);
  const blocks = blocksJson.map((value, b): OrderBlock => {
    const path = `blocks[${b}]`;
    const block = object(value, path);
    return {
      proposer: string(block.proposer, `${path}.proposer`),
      entryIndex: integer(block.entryIndex, `${path}.entryIndex`),
      items: array(block.items, `${path}.items`).map((it, i) => item(it, `${path}.items[${i}]`)),
    };
  });
  const executed =
    wrapped && root.alreadyExecuted !== undefined ? array(root.alreadyExecuted, "alreadyExecuted") : [];
  return {
    blocks,
    alreadyExecuted: new Set(executed.map((id, i) => string(id, `alreadyExecuted[${i}]`))),
  };
}

/** parseOrderInput over the text of a JSON file; bad JSON is an OrderInputError too. */
export function parseOrderFile(text: string): OrderInput {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new OrderInputError("input", `not JSON: ${(error as Error).message}`);
  }
  return parseOrderInput(json);
}
