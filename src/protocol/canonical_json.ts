/**
 * Canonical JSON text: object keys sorted by JavaScript `<` (UTF-16 code units) at every depth,
 * no white space, bigints written as exact integers. Views are rendered with it so that two
 * replicas holding the same delta set produce byte-identical views.
 */

/** A JSON value as the views hold it; bigint only for counter totals. */
export type JsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** Serialises `value` canonically. Objects' own enumerable string keys only. */
export function canonicalJson(value: JsonValue): string {
  switch (typeof value) {
    case "string":
      return JSON.stringify(value);
    case "number":
      // Non-finite numbers never pass the schema; -0 prints as 0 like JSON.stringify does.
      return JSON.stringify(value);
    case "bigint":
      return value.toString();
    case "boolean":
      return value ? "true" : "false";
    case "object": {
      if (value === null) return "null";
      if (Array.isArray(value)) {
        return "[" + value.map((v) => canonicalJson(v)).join(",") + "]";
      }
      const obj = value as { readonly [key: string]: JsonValue };
      const keys = Object.keys(obj).sort();
      return "{" +
        keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(obj[k])).join(
          ",",
        ) +
        "}";
    }
    default:
      throw new TypeError(`Cannot serialise a ${typeof value} as JSON`);
  }
}

/** Builds `{k: v}` text from already-sorted entries whose values are canonical JSON text. */
export function objectText(
  entries: readonly (readonly [string, string])[],
): string {
  return "{" + entries.map(([k, v]) => JSON.stringify(k) + ":" + v).join(",") +
    "}";
}
