/**
 * The wire of a bulk copy (`POST /v1/peer/bootstrap`, docs/protocol.md §26): a new or reset
 * region reads a peer's deltas page by page in the peer's own log order — shard 0 (legacy), 1
 * (gating), then the data shards, each from a position to its end — and stores them through the
 * same ingest as any relayed delta. A page's cursor is a log position `{shard, after}`: the next
 * entries are those of `shard` numbered above `after`, then the shards after it. Pure: schemas,
 * limits, and the rules a page must keep (a cursor only moves forward).
 */
import { z } from "zod";
import { LOG_SHARDS } from "../store/region_log.ts";
import { FANOUT_MESSAGE_BYTES_MAX } from "./fan_out.ts";
import { REGION_MESSAGE_BYTES_MAX } from "./region_message.ts";

/** The message kind (and answer kind) of a bulk-copy page. */
export const BOOTSTRAP_KIND = "bootstrap";
/** The route a region serves pages on. */
export const BOOTSTRAP_PATH = "/v1/peer/bootstrap";
/** Most log entries one page examines (and deltas it carries): one store page of the log. */
export const BOOTSTRAP_PAGE_DELTAS_MAX = 1_000;
/**
 * Most bytes of envelope JSON in one page: the fan-out message's bound, so an answer (which
 * escapes each envelope once more) stays within REGION_MESSAGE_BYTES_MAX.
 */
export const BOOTSTRAP_PAGE_BYTES_MAX = FANOUT_MESSAGE_BYTES_MAX;

if (BOOTSTRAP_PAGE_BYTES_MAX * 2 + 65_536 > REGION_MESSAGE_BYTES_MAX) {
  throw new Error("BOOTSTRAP_PAGE_BYTES_MAX must fit an answer of REGION_MESSAGE_BYTES_MAX");
}

/** A position in a region's log: after entry `after` of shard `shard` (and every shard before). */
export interface LogCursor {
  readonly shard: number;
  readonly after: number;
}

/** Where a copy starts: before the first entry of the first shard. */
export const CURSOR_START: LogCursor = { shard: 0, after: 0 };

export const logCursorSchema = z.strictObject({
  shard: z.number().int().min(0).max(LOG_SHARDS - 1),
  after: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});

/** The fields of a page request, besides the message head. */
export const pageRequestSchema = z.object({
  cursor: logCursorSchema,
  /** Most entries to examine; the server may examine fewer (bytes). */
  limit: z.number().int().min(1).max(BOOTSTRAP_PAGE_DELTAS_MAX),
});

export type PageRequest = z.infer<typeof pageRequestSchema>;

const envelopeSchema = z.strictObject({ body: z.string(), sig: z.string() });

/** The fields of a page answer, besides the answer head. */
export const pageAnswerSchema = z.object({
  /** The envelopes of the entries examined, in log order (entries whose record is gone: none). */
  deltas: z.array(envelopeSchema).max(BOOTSTRAP_PAGE_DELTAS_MAX),
  /** Where the next page starts: after the last entry examined. */
  next: logCursorSchema,
  /** True when `next` is past the end of every shard as the server read them. */
  done: z.boolean(),
  /** Entries in the server's log (its `logHead`), for progress reports. */
  logHead: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
});

export type PageAnswer = z.infer<typeof pageAnswerSchema>;

/** Whether `b` is strictly after `a` in log order. */
export function cursorAfter(a: LogCursor, b: LogCursor): boolean {
  return b.shard > a.shard || (b.shard === a.shard && b.after > a.after);
}

/**
 * Why an answer to a page asked at `asked` breaks the protocol, or null. A page that is not the
 * last must move the cursor forward (a cursor that stays or goes back would loop the copy), and
 * carries no more deltas than it examined entries.
 */
export function pageProblem(asked: PageRequest, answer: PageAnswer): string | null {
  if (answer.deltas.length > asked.limit) {
    return `page carries ${answer.deltas.length} deltas for a limit of ${asked.limit}`;
  }
  if (answer.done) return null;
  if (!cursorAfter(asked.cursor, answer.next)) {
    return `cursor does not move forward: ${JSON.stringify(asked.cursor)} → ${
      JSON.stringify(answer.next)
    }`;
  }
  return null;
}
