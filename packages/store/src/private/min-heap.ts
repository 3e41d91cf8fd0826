/** A binary min-heap of (priority, item) pairs. */
export class MinHeap<T> {
  readonly #priorities: number[] = [];
  readonly #items: T[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(priority: number, item: T): void {
    let i = this.#items.length;
    this.#priorities.push(priority);
    this.#items.push(item);
    while (i > 0) {
      const parent = (i - 1) >>> 1;
      if (this.#priorities[parent]! <= priority) break;
      this.#move(parent, i);
      i = parent;
    }
    this.#priorities[i] = priority;
    this.#items[i] = item;
  }

  peekPriority(): number | undefined {
    return this.#priorities[0];
  }

  pop(): T | undefined {
    const top = this.#items[0];
    const lastPriority = this.#priorities.pop();
    const lastItem = this.#items.pop() as T;
    const size = this.#items.length;
    if (size === 0 || lastPriority === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= size) break;
      const right = left + 1;
      const child = right < size && this.#priorities[right]! < this.#priorities[left]! ? right : left;
      if (this.#priorities[child]! >= lastPriority) break;
      this.#move(child, i);
      i = child;
    }
    this.#priorities[i] = lastPriority;
    this.#items[i] = lastItem;
    return top;
  }

  #move(from: number, to: number): void {
    this.#priorities[to] = this.#priorities[from]!;
    this.#items[to] = this.#items[from]!;
  }
}
