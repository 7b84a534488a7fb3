/**
 * How the registry lays its discovery index out in the store index (`RegionStore.writeIndex`):
 * per agent one record `["registry","card",author]` → {@linkcode CardRecord} (the stamp of the
 * winning `_registry` delta and the terms its listing entries were built from), and listing
 * entries `["registry",<listing>,…,inv(ts),author]` → `""` for the live card, where inv(ts) is
 * the fixed-width decimal of `INTEGER_MAX − ts`, so ascending key order is newest first.
 * Liveness is `["registry","seen",author]` → {@linkcode SeenRecord}. Pure.
 */
import { type AgentCard, CARD_SKILLS_MAX, CARD_TAGS_MAX, tagTerm } from "../protocol/agent_card.ts";
import { INTEGER_MAX } from "../protocol/limits.ts";
import { INDEX_WRITE_KEYS_MAX } from "../store/index_limits.ts";
import type { IndexKey } from "../store/region_store.ts";

/** Most distinct words of a card's name and description that discovery indexes (the first). */
export const CARD_WORDS_MAX = 22;
/** Most listing entries one card makes: all, one per skill, tag and word. */
export const CARD_ENTRIES_MAX = 1 + CARD_SKILLS_MAX + CARD_TAGS_MAX + CARD_WORDS_MAX;
// Replacing a card expects and sets its record, deletes the old entries and sets the new ones,
// all in one store index write, so every card must fit twice over.
if (2 * CARD_ENTRIES_MAX + 2 > INDEX_WRITE_KEYS_MAX) {
  throw new Error("A card's index entries must fit one store index write twice over");
}
/** Words are cut to this many code points (a longer query word is cut alike). */
export const WORD_CODE_POINTS_MAX = 32;
/** Digits of inv(ts): INTEGER_MAX has 16. */
const INV_TS_DIGITS = String(INTEGER_MAX).length;

/** The registry's part of the store index. */
export const ROOT = "registry";

/** What the index holds about one agent: its winning `_registry` delta and what it indexed. */
export interface CardRecord {
  /** The winning delta: stamp `(ts, lc, author, seq, op 0, id)` of docs/protocol.md §9.1. */
  readonly id: string;
  readonly ts: number;
  readonly lc: number;
  readonly seq: number;
  /** The winner is a withdrawal (`del`): no listing entries. */
  readonly deleted: boolean;
  /** Skill ids, tags (lowercased, distinct) and words the listing entries were built from. */
  readonly skills: readonly string[];
  readonly tags: readonly string[];
  readonly words: readonly string[];
}

/** The newest signed `ts` of the agent's deltas this region stores, and who stored it. */
export interface SeenRecord {
  readonly ts: number;
  /** This region for an agent's push; the relaying peer for a relayed delta; null unknown. */
  readonly region: string | null;
}

/** Which listing a discovery walks. */
export type Listing =
  | { readonly kind: "all" }
  | { readonly kind: "skill" | "tag" | "word"; readonly term: string };

export function cardKey(author: string): IndexKey {
  return [ROOT, "card", author];
}

export function seenKey(author: string): IndexKey {
  return [ROOT, "seen", author];
}

/** The key prefix of a listing; its entries add inv(ts) and the author. */
export function listingPrefix(listing: Listing): IndexKey {
  return listing.kind === "all" ? [ROOT, "all"] : [ROOT, listing.kind, listing.term];
}

/** Fixed-width `INTEGER_MAX − ts`: ascending order of these is descending `ts`. */
export function invTs(ts: number): string {
  return String(INTEGER_MAX - ts).padStart(INV_TS_DIGITS, "0");
}

/** Whether `part` is an inv(ts) key part. */
export function isInvTs(part: string): boolean {
  return part.length === INV_TS_DIGITS && /^[0-9]+$/.test(part) && Number(part) <= INTEGER_MAX;
}

/** Every listing entry key of a live record, for `author`. */
export function entryKeys(author: string, record: CardRecord): IndexKey[] {
  if (record.deleted) return [];
  const tail = [invTs(record.ts), author];
  return [
    [ROOT, "all", ...tail],
    ...record.skills.map((s) => [ROOT, "skill", s, ...tail]),
    ...record.tags.map((t) => [ROOT, "tag", t, ...tail]),
    ...record.words.map((w) => [ROOT, "word", w, ...tail]),
  ];
}

/** The searchable terms of a card: skill ids, lowercased tags, words of name and description. */
export function cardTerms(card: AgentCard): Pick<CardRecord, "skills" | "tags" | "words"> {
  const skills = card.skills.map((s) => s.id);
  const tags = [...new Set(card.skills.flatMap((s) => s.tags.map(tagTerm)))];
  if (tags.length > CARD_TAGS_MAX) throw new Error("a parsed card holds too many tags");
  const words = textWords(`${card.name} ${card.description}`).slice(0, CARD_WORDS_MAX);
  return { skills, tags, words };
}

/**
 * The distinct words of `text` in order of first appearance: maximal runs of Unicode letters,
 * marks and digits, in Unicode NFC, lowercased, cut to `WORD_CODE_POINTS_MAX` code points.
 */
export function textWords(text: string): string[] {
  const words = new Set<string>();
  for (const [run] of text.matchAll(/[\p{L}\p{M}\p{N}]+/gu)) {
    words.add(
      Array.from(run.normalize("NFC").toLowerCase()).slice(0, WORD_CODE_POINTS_MAX).join(""),
    );
  }
  return [...words];
}

/** A record read from the index, or null when the text is not one (never throws). */
export function parseCardRecord(text: string | null): CardRecord | null {
  if (text === null) return null;
  try {
    const r = JSON.parse(text) as CardRecord;
    return typeof r.id === "string" && Number.isSafeInteger(r.ts) ? r : null;
  } catch {
    return null;
  }
}

export function parseSeenRecord(text: string | null): SeenRecord | null {
  if (text === null) return null;
  try {
    const r = JSON.parse(text) as SeenRecord;
    return Number.isSafeInteger(r.ts) ? r : null;
  } catch {
    return null;
  }
}
