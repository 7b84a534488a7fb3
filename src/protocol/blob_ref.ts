/**
 * Blob references: the signed metadata of content-addressed blobs (docs/protocol.md §25). The
 * bytes of a blob travel outside the delta set (`PUT /v1/blobs/{sha256}`); what an author says
 * about them — name, media type, size, tags — is a delta in the system channel `_blobs`, so it
 * is signed, replicates and converges like any delta, and garbage collection decides from the
 * channel's view alone which blobs are still wanted.
 *
 * Every op of a `_blobs` delta is keyed `<author>:<sha256 hex>` with the delta's own author:
 * `set` with a metadata value announces (or replaces) that author's reference, `del` withdraws
 * it. Nobody can write or withdraw another author's reference. Pure; never throws.
 */
import { z } from "zod";
import type { Op, OpValue } from "./delta.ts";
import { ID_PATTERN_SOURCE } from "./limits.ts";

/** The system channel that holds blob metadata. */
export const BLOBS_CHANNEL = "_blobs";
/** Largest blob, in bytes (16 MiB). */
export const BLOB_BYTES_MAX = 16 * 1024 * 1024;
/** Longest `name`, in UTF-16 code units. */
export const BLOB_NAME_CHARS_MAX = 256;
/** Longest media `type`, in characters (RFC 6838 names, with parameters). */
export const BLOB_TYPE_CHARS_MAX = 255;
/** Most tags on one reference. */
export const BLOB_TAGS_MAX = 16;
/** Longest tag, in UTF-16 code units. */
export const BLOB_TAG_CHARS_MAX = 64;

/** A blob's name on the wire: its SHA-256 as 64 lowercase hex digits (one spelling only). */
export const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/;
/** The key of a reference: `<author>:<sha256 hex>`. */
export const BLOB_REF_KEY_PATTERN = new RegExp(`^(${ID_PATTERN_SOURCE}):([0-9a-f]{64})$`);

const TOKEN = "[A-Za-z0-9!#$&^_.+-]+";
/** `type/subtype` with optional `; name=value` parameters (value a token or a quoted string). */
const MEDIA_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|"[^"\\\\\\u0000-\\u001f]*"))*$`,
);

const text = (max: number) =>
  z.string().min(1).max(max).refine((s) => !/\p{Cc}/u.test(s), {
    message: "must not contain control characters",
  });

/** The strict schema of a reference's value. Unknown members are refused. */
export const blobMetaSchema = z.strictObject({
  /** What the author calls the blob (a file name, a title). */
  name: text(BLOB_NAME_CHARS_MAX),
  /** Its media type, e.g. `text/markdown; charset=utf-8`. */
  type: z.string().max(BLOB_TYPE_CHARS_MAX).regex(MEDIA_TYPE, "must be a media type/subtype"),
  /** Its size in bytes: 1 … BLOB_BYTES_MAX. */
  size: z.number().int().min(1).max(BLOB_BYTES_MAX),
  /** Free labels, distinct. Default none. */
  tags: z.array(text(BLOB_TAG_CHARS_MAX)).max(BLOB_TAGS_MAX).refine(
    (tags) => new Set(tags).size === tags.length,
    { message: "tags must be distinct" },
  ).optional(),
});

export type BlobMeta = z.infer<typeof blobMetaSchema>;

/** The reference key of `author`'s metadata about blob `sha256` (64 lowercase hex digits). */
export function blobRefKey(author: string, sha256: string): string {
  return `${author}:${sha256}`;
}

/** The author and hash a reference key names, or null when it is not one. */
export function parseBlobRefKey(key: string): { author: string; sha256: string } | null {
  const match = BLOB_REF_KEY_PATTERN.exec(key);
  return match === null ? null : { author: match[1], sha256: match[2] };
}

/** The metadata `value` holds, or why it is not metadata. */
export function parseBlobMeta(
  value: OpValue | unknown,
): { ok: true; meta: BlobMeta } | { ok: false; detail: string } {
  const parsed = blobMetaSchema.safeParse(value);
  if (parsed.success) return { ok: true, meta: parsed.data };
  const issue = parsed.error.issues[0];
  const path = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return { ok: false, detail: `${path}${issue.message}` };
}

/**
 * Why a `_blobs` delta by `author` is not made only of that author's references, or null: each
 * op is `set {key: "<author>:<sha256 hex>", value: <metadata>}` or `del {key: …}`.
 */
export function blobOpsProblem(author: string, ops: readonly Op[]): string | null {
  for (const [i, op] of ops.entries()) {
    if (op.op !== "set" && op.op !== "del") {
      return `ops.${i}: only set (reference) and del (withdraw) are allowed in ${BLOBS_CHANNEL}`;
    }
    const ref = parseBlobRefKey(op.key);
    if (ref === null) return `ops.${i}: key must be "<author>:<sha256 as 64 lowercase hex>"`;
    if (ref.author !== author) {
      return `ops.${i}: key must start with the delta's author: an author writes only its own references`;
    }
    if (op.op === "set") {
      const meta = parseBlobMeta(op.value);
      if (!meta.ok) return `ops.${i}.value: ${meta.detail}`;
    }
  }
  return null;
}
