/**
 * Listeners grouped by key: notifying the listeners of one key costs nothing for the others, so thousands of
 * callers each waiting for their own task do not make every change O(callers).
 */
export class KeyedListeners<K, V> {
  private readonly listeners = new Map<K, Set<(value: V) => void>>();

  /** Adds a listener for `key`; returns the function that removes it. */
  add(key: K, listener: (value: V) => void): () => void {
    let set = this.listeners.get(key);
    if (!set) {
      set = new Set();
      this.listeners.set(key, set);
    }
    set.add(listener);
    return () => {
      const current = this.listeners.get(key);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(key);
    };
  }

  /** Calls every listener of `key` with `value`. */
  emit(key: K, value: V): void {
    const set = this.listeners.get(key);
    if (!set) return;
    for (const listener of [...set]) listener(value);
  }

  /** How many keys have listeners. */
  get size(): number {
    return this.listeners.size;
  }
}
