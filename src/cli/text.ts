/** Small helpers for the CLI's human-readable lines. */

/** "1 epoch", "3 epochs"; `many` for irregular plurals. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * Join `parts` with `punct` + space into lines of at most `width` characters, breaking only between
 * parts; continuation lines start with `indent`. A part longer than a line gets a line of its own.
 */
export function wrapParts(parts: readonly string[], width = 80, punct = ',', indent = '  '): string {
  const lines: string[] = [];
  let line = '';
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    const piece = last ? part : part + punct;
    if (line === '') line = (lines.length ? indent : '') + piece;
    else if (line.length + 1 + piece.length <= width) line += ' ' + piece;
    else {
      lines.push(line);
      line = indent + piece;
    }
  }
  if (line !== '') lines.push(line);
  return lines.join('\n');
}
