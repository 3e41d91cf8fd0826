/**
 * The tree of slots a node has seen, slot → parent, rooted at its latest root. A skipped leader
 * slot needs nothing special: the next slot simply names an older parent, and slots that chose
 * different parents are different forks.
 */

export type ForkTreeErrorCode =
  | "not-above-root"
  | "parent-not-older"
  | "unknown-parent"
  | "conflicting-parent"
  | "unknown-slot"
  | "root-not-newer";

export class ForkTreeError extends Error {
  constructor(
    readonly code: ForkTreeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ForkTreeError";
  }
}

export type AddSlotResult =
  | { readonly ok: true; readonly added: boolean }
  | { readonly ok: false; readonly error: ForkTreeError };

export type SetRootResult =
  | { readonly ok: true; readonly pruned: readonly number[] }
  | { readonly ok: false; readonly error: ForkTreeError };

/** What readers of a fork tree may ask; only its owner changes it. */
export interface ForkTreeView {
  readonly root: number;
  readonly size: number;
  has(slot: number): boolean;
  parentOf(slot: number): number | undefined;
  childrenOf(slot: number): readonly number[];
  /** The strict ancestors of slot inside the tree, the root included. Throws a RangeError for an unknown slot. */
  ancestors(slot: number): ReadonlySet<number>;
  /** Whether ancestor is slot or one of its ancestors (false when either is not in the tree). */
  isAncestorOrSelf(ancestor: number, slot: number): boolean;
  /** Every slot, ascending. */
  slots(): number[];
}

export class ForkTree implements ForkTreeView {
  private rootSlot: number;
  private readonly parents = new Map<number, number>();
  private readonly children = new Map<number, number[]>();

  constructor(root: number) {
    this.rootSlot = root;
    this.children.set(root, []);
  }

  get root(): number {
    return this.rootSlot;
  }

  get size(): number {
    return this.children.size;
  }

  has(slot: number): boolean {
    return this.children.has(slot);
  }

  parentOf(slot: number): number | undefined {
    return this.parents.get(slot);
  }

  childrenOf(slot: number): readonly number[] {
    return this.children.get(slot) ?? [];
  }

  ancestors(slot: number): ReadonlySet<number> {
    if (!this.has(slot)) throw new RangeError(`slot ${slot} is not in the fork tree`);
    const out = new Set<number>();
    for (let p = this.parents.get(slot); p !== undefined; p = this.parents.get(p)) out.add(p);
    return out;
  }

  isAncestorOrSelf(ancestor: number, slot: number): boolean {
    if (!this.has(ancestor) || !this.has(slot)) return false;
    let s: number | undefined = slot;
    while (s !== undefined && s > ancestor) s = this.parents.get(s);
    return s === ancestor;
  }

  slots(): number[] {
    return [...this.children.keys()].sort((a, b) => a - b);
  }

  /**
   * Adds slot under parent. Adding a slot again with the same parent is a no-op (added: false);
   * refused, with the tree unchanged: a slot at or below the root, a parent that is not older,
   * a parent not in the tree, or a second, different parent.
   */
  addSlot(slot: number, parent: number): AddSlotResult {
    const known = this.parents.get(slot);
    if (known !== undefined || slot === this.rootSlot) {
      if (known === parent) return { ok: true, added: false };
      return refuse("conflicting-parent", `slot ${slot} already has parent ${known ?? "none (the root)"}`);
    }
    if (slot <= this.rootSlot)
      return refuse("not-above-root", `slot ${slot} is not above the root ${this.rootSlot}`);
    if (parent >= slot) return refuse("parent-not-older", `parent ${parent} of slot ${slot} is not older`);
    const siblings = this.children.get(parent);
    if (siblings === undefined)
      return refuse("unknown-parent", `parent ${parent} of slot ${slot} is not in the tree`);
    this.parents.set(slot, parent);
    this.children.set(slot, []);
    siblings.push(slot);
    siblings.sort((a, b) => a - b);
    return { ok: true, added: true };
  }

  /** Makes slot the root and prunes every slot that does not descend from it; returns the pruned slots, ascending. */
  setRoot(slot: number): SetRootResult {
    if (slot === this.rootSlot) return { ok: true, pruned: [] };
    if (!this.has(slot)) return refuse("unknown-slot", `new root ${slot} is not in the tree`);
    if (slot < this.rootSlot)
      return refuse("root-not-newer", `new root ${slot} is older than ${this.rootSlot}`);
    const kept = new Set<number>([slot]);
    const stack = [slot];
    for (let s = stack.pop(); s !== undefined; s = stack.pop()) {
      for (const child of this.children.get(s)!) {
        kept.add(child);
        stack.push(child);
      }
    }
    const pruned = this.slots().filter((s) => !kept.has(s));
    for (const s of pruned) {
      this.children.delete(s);
      this.parents.delete(s);
    }
    this.parents.delete(slot);
    this.rootSlot = slot;
    return { ok: true, pruned };
  }
}

function refuse(code: ForkTreeErrorCode, message: string): { ok: false; error: ForkTreeError } {
  return { ok: false, error: new ForkTreeError(code, message) };
}
