import type { IndexEntry } from "../store.js";

/**
 * Orders strings by Unicode code point, which is the byte order of their UTF-8 forms (the
 * order Redis gives equal scores). Plain `<` compares UTF-16 units, which differs only when a
 * surrogate meets a unit in U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x += x >= 0xe000 ? -0x800 : 0x2000;
      y += y >= 0xe000 ? -0x800 : 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

function compareEntries(a: IndexEntry, b: IndexEntry): number {
  return a.score - b.score || compareCodePoints(a.member, b.member);
}

/** A sorted set for the in-process store: members by (score, member), with range queries by score. */
export class SortedIndex {
  readonly #entries: IndexEntry[] = [];
  readonly #scores = new Map<string, number>();

  get size(): number {
    return this.#entries.length;
  }

  score(member: string): number | undefined {
    return this.#scores.get(member);
  }

  /** True if the member is new. */
  add(member: string, score: number): boolean {
    const previous = this.#scores.get(member);
    if (previous === score) return false;
    if (previous !== undefined) this.#entries.splice(this.#position({ member, score: previous }), 1);
    const entry = { member, score };
    this.#entries.splice(this.#position(entry), 0, entry);
    this.#scores.set(member, score);
    return previous === undefined;
  }

  remove(member: string): boolean {
    const score = this.#scores.get(member);
    if (score === undefined) return false;
    this.#entries.splice(this.#position({ member, score }), 1);
    this.#scores.delete(member);
    return true;
  }

  range(
    min: number,
    max: number,
    order: "asc" | "desc",
    offset: number,
    limit: number | undefined,
  ): IndexEntry[] {
    const from = this.#firstAtLeast(min);
    const to = this.#firstAbove(max);
    const result: IndexEntry[] = [];
    const wanted = limit ?? Number.POSITIVE_INFINITY;
    if (order === "asc") {
      for (let i = from + offset; i < to && result.length < wanted; i++) result.push(this.#entries[i]!);
    } else {
      for (let i = to - 1 - offset; i >= from && result.length < wanted; i--) result.push(this.#entries[i]!);
    }
    return result;
  }

  removeBelow(score: number): number {
    return this.#removeFirst(this.#firstAtLeast(score));
  }

  keepHighest(count: number): number {
    return this.#removeFirst(Math.max(0, this.#entries.length - count));
  }

  #removeFirst(count: number): number {
    for (const removed of this.#entries.splice(0, count)) this.#scores.delete(removed.member);
    return count;
  }

  /** Index of the entry, or where it would be inserted. */
  #position(entry: IndexEntry): number {
    let low = 0;
    let high = this.#entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareEntries(this.#entries[mid]!, entry) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  #firstAtLeast(score: number): number {
    let low = 0;
    let high = this.#entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#entries[mid]!.score < score) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  #firstAbove(score: number): number {
    let low = 0;
    let high = this.#entries.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#entries[mid]!.score <= score) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
