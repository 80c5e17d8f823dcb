/**
 * An append-only log with stable sequence numbers, read with a cursor (`since`). It keeps the
 * newest entries that fit in a byte budget (each entry counted as its JSON text), so that a
 * long-running fake (the `npm start` demo) holds a bounded amount of memory however large the
 * entries are; a cursor older than what is kept just starts at the oldest entry still there.
 */
export class BoundedLog<T> {
  #entries: { entry: T; bytes: number }[] = [];
  /** Index in `#entries` of the oldest entry kept; the ones before it are dropped. */
  #head = 0;
  /** Sequence number of `#entries[0]`. */
  #firstSeq = 0;
  #bytes = 0;

  constructor(
    /** The most bytes of JSON the kept entries may add up to. */
    readonly maxBytes: number,
  ) {}

  /**
   * Appends an entry and returns its sequence number. The oldest entries are dropped until the
   * rest fit in the budget (an entry larger than the whole budget is not kept at all).
   */
  push(entry: T): number {
    const bytes = Buffer.byteLength(JSON.stringify(entry));
    this.#entries.push({ entry, bytes });
    this.#bytes += bytes;
    while (this.#bytes > this.maxBytes) this.#bytes -= this.#entries[this.#head++]!.bytes;
    if (this.#head * 2 > this.#entries.length) {
      // Compact once half is dropped, so that appending stays O(1) amortised.
      this.#entries.splice(0, this.#head);
      this.#firstSeq += this.#head;
      this.#head = 0;
    }
    return this.next - 1;
  }

  /** The sequence number the next entry will get: pass it back to `since` to read only newer entries. */
  get next(): number {
    return this.#firstSeq + this.#entries.length;
  }

  /** Bytes of JSON the kept entries add up to (at most `maxBytes`). */
  get bytes(): number {
    return this.#bytes;
  }

  /** Entries with a sequence number of at least `seq`, oldest first, with their sequence numbers. */
  since(seq = 0): { seq: number; entry: T }[] {
    const start = Math.max(this.#head, seq - this.#firstSeq);
    return this.#entries.slice(start).map(({ entry }, i) => ({ seq: this.#firstSeq + start + i, entry }));
  }

  /** Forgets every entry; sequence numbers keep counting, so cursors held by readers stay valid. */
  clear(): void {
    this.#firstSeq = this.next;
    this.#entries = [];
    this.#head = 0;
    this.#bytes = 0;
  }
}
