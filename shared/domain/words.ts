/** Words for people: counts with the right plural, and "did you mean …?" for a mistyped name. */

/**
 * "Did you mean …?": the candidate `word` was most likely meant to be, or undefined when none is close: the same word in
 * another case, or one at most two edits away (an insertion, a deletion, a substitution or a swap of
 * two neighbours) and no more than a third of its length, so that short words are not matched by chance.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const lower = word.toLowerCase();
  const sameCase = candidates.find((candidate) => candidate.toLowerCase() === lower);
  if (sameCase !== undefined) return sameCase;
  const limit = Math.min(2, Math.floor(word.length / 3));
  let best: { candidate: string; distance: number } | undefined;
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance <= limit && (best === undefined || distance < best.distance)) best = { candidate, distance };
  }
  return best?.candidate;
}

/** Edits from `a` to `b`, a swap of two neighbouring characters counting as one. */
function editDistance(a: string, b: string): number {
  // One row per prefix of `a`: the edits from that prefix to each prefix of `b`.
  let twoBack: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const row = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (twoBack[j - 2] ?? 0) + 1);
      row.push(best);
    }
    twoBack = previous;
    previous = row;
  }
  return previous[b.length] ?? 0;
}

/** `1 store`, `2 stores`; `plural` when adding an `s` is wrong. */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}
