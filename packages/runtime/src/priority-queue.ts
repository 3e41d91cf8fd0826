/**
 * A binary max-heap: `first(a, b) < 0` means `a` comes out before `b`. Push and
 * pop are O(log n), so keeping thousands of waiting transactions in fee order
 * costs a few comparisons per arrival instead of a sort per UserBlock.
 */
export class PriorityQueue<T> {
  private readonly heap: T[] = [];

  constructor(private readonly first: (a: T, b: T) => number) {}

  get size(): number {
    return this.heap.length;
  }

  push(value: T): void {
    const heap = this.heap;
    heap.push(value);
    let index = heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (this.first(heap[index]!, heap[parent]!) >= 0) break;
      [heap[index], heap[parent]] = [heap[parent]!, heap[index]!];
      index = parent;
    }
  }

  peek(): T | undefined {
    return this.heap[0];
  }

  pop(): T | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length === 0 || last === undefined) return top;
    heap[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let best = index;
      if (left < heap.length && this.first(heap[left]!, heap[best]!) < 0) best = left;
      if (right < heap.length && this.first(heap[right]!, heap[best]!) < 0) best = right;
      if (best === index) break;
      [heap[index], heap[best]] = [heap[best]!, heap[index]!];
      index = best;
    }
    return top;
  }

  /** Removes every value the predicate matches; O(n). */
  removeWhere(predicate: (value: T) => boolean): T[] {
    const removed = this.heap.filter(predicate);
    if (removed.length === 0) return removed;
    const kept = this.heap.filter((value) => !predicate(value));
    this.heap.length = 0;
    for (const value of kept) this.push(value);
    return removed;
  }

  values(): readonly T[] {
    return this.heap;
  }
}
