/**
 * Discovery over the registry's index: walks the most selective listing of a query (its skill,
 * else its first tag, else its longest word, else every card) newest first,
 * reads the candidates' records in batches, and keeps those that match every criterion and whose
 * author is not quarantined. A scan budget bounds the work of one call, so a rare combination
 * answers with what it found and a cursor to go on from.
 */
import { tagTerm } from "../protocol/agent_card.ts";
import { decodeBase64Url, encodeBase64Url } from "../protocol/base64url.ts";
import { ID_PATTERN } from "../protocol/delta.ts";
import { utf8Encode } from "../protocol/utf8.ts";
import type { IndexKey, RegionStore } from "../store/region_store.ts";
import {
  cardKey,
  type CardRecord,
  invTs,
  isInvTs,
  type Listing,
  listingPrefix,
  parseCardRecord,
  textWords,
} from "./index_layout.ts";

/** Default number of agents one discovery answers. */
export const DISCOVER_LIMIT_DEFAULT = 20;
/** Most agents one discovery answers. */
export const DISCOVER_LIMIT_MAX = 100;
/** Most listing entries one discovery examines before it answers with a cursor. */
export const DISCOVER_SCAN_ENTRIES_MAX = 2_000;
/** Listing entries read per store page (and records per batched read). */
export const DISCOVER_PAGE_ENTRIES = 250;
/** Most `tag` parameters one query may give. */
export const DISCOVER_TAGS_MAX = 8;
/** Longest `q`, in UTF-16 code units, and most words it may hold. */
export const DISCOVER_Q_CHARS_MAX = 256;
export const DISCOVER_WORDS_MAX = 8;
/** Longest cursor, in characters. */
export const DISCOVER_CURSOR_CHARS_MAX = 1_024;

/** A checked discovery query. Every criterion given must match. */
export interface DiscoverQuery {
  readonly skill?: string;
  /** Lowercased tags. */
  readonly tags: readonly string[];
  /** Words as `textWords` cuts them. */
  readonly words: readonly string[];
  readonly limit: number;
  /** The last listing key examined by the previous page. */
  readonly after?: IndexKey;
}

export interface DiscoverHit {
  readonly author: string;
  readonly record: CardRecord;
}

export interface DiscoverPage {
  readonly hits: DiscoverHit[];
  /** Opaque: where the next page starts; null when the listing is exhausted. */
  readonly cursor: string | null;
  /** Listing entries examined. */
  readonly scanned: number;
  readonly listing: Listing["kind"];
}

/**
 * The listing a query walks: its skill, else its first tag, else its longest word (short words
 * are the common ones), else every card.
 */
export function listingOf(query: Pick<DiscoverQuery, "skill" | "tags" | "words">): Listing {
  if (query.skill !== undefined) return { kind: "skill", term: query.skill };
  if (query.tags.length > 0) return { kind: "tag", term: query.tags[0] };
  const word = query.words.reduce<string | undefined>(
    (best, w) => best === undefined || Array.from(w).length > Array.from(best).length ? w : best,
    undefined,
  );
  return word === undefined ? { kind: "all" } : { kind: "word", term: word };
}

/** The query's words: `q` as `textWords` cuts card text. */
export function queryWords(q: string): string[] {
  return textWords(q);
}

export function queryTags(tags: readonly string[]): string[] {
  return [...new Set(tags.map(tagTerm))];
}

/**
 * Up to `query.limit` live, unquarantined cards matching `query`, newest first, examining at
 * most `DISCOVER_SCAN_ENTRIES_MAX` listing entries.
 */
export async function discover(
  store: RegionStore,
  query: DiscoverQuery,
  quarantined: ReadonlySet<string>,
): Promise<DiscoverPage> {
  const listing = listingOf(query);
  const prefix = listingPrefix(listing);
  const hits: DiscoverHit[] = [];
  let after = query.after, scanned = 0, exhausted = false;
  while (hits.length < query.limit && scanned < DISCOVER_SCAN_ENTRIES_MAX) {
    const room = Math.min(DISCOVER_PAGE_ENTRIES, DISCOVER_SCAN_ENTRIES_MAX - scanned);
    const page = await store.listIndex(prefix, { after, limit: room });
    const entries = page.entries;
    const texts = entries.length === 0
      ? []
      : await store.readIndex(entries.map((e) => cardKey(e.key[e.key.length - 1])));
    let taken = 0;
    for (const [i, entry] of entries.entries()) {
      taken++;
      scanned++;
      after = entry.key;
      const author = entry.key[entry.key.length - 1];
      const record = parseCardRecord(texts[i]);
      const inv = entry.key[entry.key.length - 2];
      if (record === null || record.deleted || invTs(record.ts) !== inv) continue;
      if (quarantined.has(author) || !matches(record, query)) continue;
      hits.push({ author, record });
      if (hits.length === query.limit) break;
    }
    if (taken === entries.length && !page.more) {
      exhausted = true;
      break;
    }
  }
  const cursor = exhausted || after === undefined ? null : encodeCursor(after);
  return { hits, cursor, scanned, listing: listing.kind };
}

function matches(record: CardRecord, query: DiscoverQuery): boolean {
  if (query.skill !== undefined && !record.skills.includes(query.skill)) return false;
  if (!query.tags.every((t) => record.tags.includes(t))) return false;
  return query.words.every((w) => record.words.includes(w));
}

/** The opaque cursor of a listing key: base64url of its JSON. */
export function encodeCursor(key: IndexKey): string {
  return encodeBase64Url(utf8Encode(JSON.stringify(key)));
}

/**
 * The listing key a cursor names, or null when it is not a cursor of this query's listing (a
 * cursor from another query, forged or cut).
 */
export function decodeCursor(
  cursor: string,
  query: Pick<DiscoverQuery, "skill" | "tags" | "words">,
): IndexKey | null {
  if (cursor.length > DISCOVER_CURSOR_CHARS_MAX) return null;
  const bytes = decodeBase64Url(cursor);
  if (bytes === null) return null;
  let key: unknown;
  try {
    key = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    return null;
  }
  const prefix = listingPrefix(listingOf(query));
  if (
    !Array.isArray(key) || key.length !== prefix.length + 2 ||
    !prefix.every((p, i) => key[i] === p)
  ) return null;
  const [inv, author] = key.slice(prefix.length);
  return typeof inv === "string" && isInvTs(inv) && typeof author === "string" &&
      ID_PATTERN.test(author)
    ? key as string[]
    : null;
}
