/**
 * Generated blocks of docs/performance.md: the text between `<!-- bench:generated:NAME -->` and
 * the next `<!-- /bench:generated -->` belongs to `deno task bench:full`; everything outside the
 * markers is hand-written and never touched. Pure.
 */

export const MARKER_END = "<!-- /bench:generated -->";
export const markerStart = (name: string) => `<!-- bench:generated:${name} -->`;
const NAME_PATTERN = /^[a-z0-9_-]{1,64}$/;

/** Names of the generated blocks of `doc`, in order. */
export function markedNames(doc: string): string[] {
  return [...doc.matchAll(/<!-- bench:generated:([a-z0-9_-]+) -->/g)].map((m) => m[1]);
}

/**
 * `doc` with the block `name` holding `content` (a blank line either side); the rest of `doc`
 * byte for byte as it was. Throws when the block is missing, repeated or not closed.
 */
export function replaceMarked(doc: string, name: string, content: string): string {
  if (!NAME_PATTERN.test(name)) throw new TypeError(`Cannot use block name "${name}"`);
  const start = markerStart(name);
  const at = doc.indexOf(start);
  if (at < 0) throw new Error(`Cannot find ${start} in the document`);
  if (doc.indexOf(start, at + start.length) >= 0) {
    throw new Error(`Cannot rewrite ${start}: it appears more than once`);
  }
  const from = at + start.length;
  const end = doc.indexOf(MARKER_END, from);
  const nextStart = doc.indexOf("<!-- bench:generated:", from);
  if (end < 0 || (nextStart >= 0 && nextStart < end)) {
    throw new Error(`Cannot rewrite ${start}: no ${MARKER_END} before the next block`);
  }
  return `${doc.slice(0, from)}\n\n${content.trim()}\n\n${doc.slice(end)}`;
}

/** Rewrites every block named in `blocks` that `doc` has; returns the names it had not. */
export function replaceAllMarked(
  doc: string,
  blocks: Readonly<Record<string, string>>,
): { doc: string; missing: string[] } {
  const present = new Set(markedNames(doc));
  let out = doc;
  const missing: string[] = [];
  for (const [name, content] of Object.entries(blocks)) {
    if (!present.has(name)) missing.push(name);
    else out = replaceMarked(out, name, content);
  }
  return { doc: out, missing };
}
