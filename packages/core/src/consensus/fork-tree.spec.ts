import { describe, expect, it } from "vitest";
import { ForkTree } from "./fork-tree.js";

// 0 → 1 → 2 → 3 and 1 → 5 → 6 (slot 4 skipped), 0 → 7.
function sample(): ForkTree {
  const tree = new ForkTree(0);
  for (const [slot, parent] of [
    [1, 0],
    [2, 1],
    [3, 2],
    [5, 1],
    [6, 5],
    [7, 0],
  ] as const) {
    expect(tree.addSlot(slot, parent)).toEqual({ ok: true, added: true });
  }
  return tree;
}

describe("ForkTree", () => {
  it("keeps slot → parent with children in slot order and ancestors up to the root", () => {
    const tree = sample();
    expect(tree.slots()).toEqual([0, 1, 2, 3, 5, 6, 7]);
    expect(tree.childrenOf(1)).toEqual([2, 5]);
    expect([...tree.ancestors(6)]).toEqual([5, 1, 0]);
    expect(tree.isAncestorOrSelf(1, 6)).toBe(true);
    expect(tree.isAncestorOrSelf(6, 6)).toBe(true);
    expect(tree.isAncestorOrSelf(2, 6)).toBe(false);
    expect(tree.isAncestorOrSelf(4, 6)).toBe(false);
    expect(() => tree.ancestors(4)).toThrow(RangeError);
  });

  it("accepts the same slot and parent again as a no-op and refuses everything else unchanged", () => {
    const tree = sample();
    expect(tree.addSlot(6, 5)).toEqual({ ok: true, added: false });
    const codes = [
      tree.addSlot(6, 2),
      tree.addSlot(0, 0),
      tree.addSlot(9, 9),
      tree.addSlot(9, 8),
      tree.addSlot(4, 5),
    ].map((r) => (r.ok ? "ok" : r.error.code));
    expect(codes).toEqual([
      "conflicting-parent",
      "conflicting-parent",
      "parent-not-older",
      "unknown-parent",
      "parent-not-older",
    ]);
    expect(tree.slots()).toEqual([0, 1, 2, 3, 5, 6, 7]);
  });

  it("prunes every slot that does not descend from a new root", () => {
    const tree = sample();
    expect(tree.setRoot(1)).toEqual({ ok: true, pruned: [0, 7] });
    expect(tree.root).toBe(1);
    expect(tree.parentOf(1)).toBeUndefined();
    expect(tree.setRoot(5)).toEqual({ ok: true, pruned: [1, 2, 3] });
    expect(tree.slots()).toEqual([5, 6]);
    expect([...tree.ancestors(6)]).toEqual([5]);
    const refused = [tree.setRoot(3), tree.addSlot(4, 3), tree.addSlot(5, 1)].map((r) =>
      r.ok ? "ok" : r.error.code,
    );
    expect(refused).toEqual(["unknown-slot", "not-above-root", "conflicting-parent"]);
    expect(tree.setRoot(6).ok).toBe(true);
    expect(tree.slots()).toEqual([6]);
  });
});
