/**
 * Detects JSON objects that repeat a member name. `JSON.parse` keeps the last one silently, other
 * parsers keep the first or fail; so one signed body could mean different deltas to different
 * verifiers. Bodies with repeated names are rejected instead.
 */

/** True when some object in `text` (already known to be valid JSON) repeats a member name. */
export function hasDuplicateKeys(text: string): boolean {
  const stack: (Set<string> | null)[] = []; // a Set per open object, null per open array
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) { // a string: find its end, honouring escapes
      let j = i + 1;
      let escaped = false;
      for (;; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x5c) {
          escaped = true;
          j++;
        } else if (d === 0x22) break;
      }
      if (expectKey) {
        // "a" and "\u0061" are the same name: compare decoded names.
        const name = escaped ? JSON.parse(text.slice(i, j + 1)) as string : text.slice(i + 1, j);
        const names = stack[stack.length - 1]!;
        if (names.has(name)) return true;
        names.add(name);
        expectKey = false;
      }
      i = j;
    } else if (c === 0x7b) { // {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b) { // [
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d || c === 0x5d) { // } ]
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c) { // ,
      expectKey = stack[stack.length - 1] != null;
    }
  }
  return false;
}
