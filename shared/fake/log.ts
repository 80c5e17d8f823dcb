/**
 * An append-only log with stable sequence numbers, read with a cursor (`since`). It keeps the
 * newest `capacity` entries so that a long-running fake (the `npm start` demo) does not grow
 * without bound; a cursor older than what is kept just starts at the oldest entry still there.
 */
export class BoundedLog<T> {
  #entries: T[] = [];
  #firstSeq = 0;

  constructor(private readonly capacity = 10_000) {}

  /** Appends an entry and returns its sequence number. */
  push(entry: T): number {
    this.#entries.push(entry);
    if (this.#entries.length > 2 * this.capacity) {
      // Trim in one go, so that appending stays O(1) amortised.
      const drop = this.#entries.length - this.capacity;
      this.#entries.splice(0, drop);
      this.#firstSeq += drop;
    }
    return this.next - 1;
  }

  /** The sequence number the next entry will get: pass it back to `since` to read only newer entries. */
  get next(): number {
    return this.#firstSeq + this.#entries.length;
  }

  /** Entries with a sequence number of at least `seq`, oldest first, with their sequence numbers. */
  since(seq = 0): { seq: number; entry: T }[] {
    const start = Math.max(0, seq - this.#firstSeq);
    return this.#entries.slice(start).map((entry, i) => ({ seq: this.#firstSeq + start + i, entry }));
  }

  /** Forgets every entry; sequence numbers keep counting, so cursors held by readers stay valid. */
  clear(): void {
    this.#firstSeq = this.next;
    this.#entries = [];
  }
}
