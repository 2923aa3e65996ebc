/**
 * Small helpers for messages that quote what the user wrote: a bounded, printable excerpt, and
 * the "did you mean" hint for a misspelt key (the config parser and the record schemas use both).
 */

/** `text` with control characters replaced and cut to `max` characters, so one bad value cannot flood the terminal. */
export function excerpt(text: string, max = 60): string {
  // eslint-disable-next-line no-control-regex -- replacing control characters is the point
  const printable = text.replace(/[\x00-\x1f\x7f]/g, '?');
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * The candidate nearest to `word` within `maxDistance` edits (the first of equally near ones), or
 * undefined. Words longer than 64 characters get no hint: they are not typos, and comparing them
 * would cost time for nothing.
 */
export function closestName(word: string, candidates: Iterable<string>, maxDistance = 2): string | undefined {
  if (word.length > 64) return undefined;
  let best: { name: string; d: number } | undefined;
  for (const name of candidates) {
    const d = editDistance(word, name);
    if (d <= maxDistance && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}
