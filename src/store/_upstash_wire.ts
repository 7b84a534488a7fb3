/**
 * The wire format of the Upstash store: how a batch of deltas is split into requests of script
 * calls, and how stored records, outcomes, log entries and leases are parsed back.
 */
import { CHANNEL_PATTERN } from "../protocol/limits.ts";
import { utf8ByteLength } from "../protocol/utf8.ts";
import {
  type DeltaOrigin,
  type Equivocation,
  type Lease,
  type LogEntry,
  type PutOutcome,
  type StoredDelta,
  StoreUnavailableError,
  type TokenGrant,
} from "./region_store.ts";

/** Estimated request bytes of one delta besides its JSON-escaped body and sig. */
const DELTA_OVERHEAD_BYTES = 200;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** One script call: some deltas of one channel, with their positions in the input. */
export interface Call {
  readonly channel: string;
  readonly deltas: StoredDelta[];
  readonly indices: number[];
}

/** Deltas come verified; the record format and key layout rely on these shapes. */
export function assertStorable(d: StoredDelta): void {
  if (
    !CHANNEL_PATTERN.test(d.channel) || !BASE64URL.test(d.id) || !BASE64URL.test(d.author) ||
    !BASE64URL.test(d.sig) || !Number.isSafeInteger(d.seq) || d.seq < 1
  ) {
    throw new TypeError(`Cannot store delta ${d.id} as it is not a verified delta record`);
  }
}

/** Estimated bytes one delta adds to a request (JSON-escaped body and sig, keys, framing). */
function requestBytes(d: StoredDelta): number {
  return utf8ByteLength(JSON.stringify(d.body)) + d.sig.length + d.author.length + d.id.length +
    DELTA_OVERHEAD_BYTES;
}

/**
 * Groups a batch into requests of script calls: at most one call per channel in a request (so
 * calls of one request never depend on each other's order), each request within `bytesMax`.
 * A channel's deltas keep their input order across requests.
 */
export function planRequests(deltas: readonly StoredDelta[], bytesMax: number): Call[][] {
  const queues = new Map<string, number[]>();
  deltas.forEach((d, i) => {
    const queue = queues.get(d.channel);
    if (queue === undefined) queues.set(d.channel, [i]);
    else queue.push(i);
  });
  const requests: Call[][] = [];
  while (queues.size > 0) {
    const request: Call[] = [];
    let bytes = 0;
    for (const [channel, queue] of queues) {
      const call: Call = { channel, deltas: [], indices: [] };
      while (queue.length > 0) {
        const size = requestBytes(deltas[queue[0]]);
        if (bytes + size > bytesMax && (request.length > 0 || call.deltas.length > 0)) break;
        bytes += size;
        const i = queue.shift()!;
        call.deltas.push(deltas[i]);
        call.indices.push(i);
      }
      if (call.deltas.length > 0) request.push(call);
      if (queue.length === 0) queues.delete(channel);
      if (bytes >= bytesMax) break;
    }
    requests.push(request);
  }
  return requests;
}

export function parsePutReply(reply: unknown, count: number): PutOutcome[] {
  const tokens = String(reply).split(",");
  if (tokens.length !== count) {
    throw new StoreUnavailableError(
      `Upstash answered ${tokens.length} outcomes for ${count} deltas`,
    );
  }
  return tokens.map((token): PutOutcome => {
    if (token === "d") return { status: "duplicate" };
    const equivocation = /^e(\d+):(.+)$/.exec(token);
    if (equivocation !== null && Number.isSafeInteger(Number(equivocation[1]))) {
      return {
        status: "equivocation",
        arrival: Number(equivocation[1]),
        existingId: equivocation[2],
      };
    }
    const arrival = Number(token.slice(1));
    if (!token.startsWith("a") || !Number.isSafeInteger(arrival)) {
      throw new StoreUnavailableError(`Upstash answered an unknown outcome: ${token}`);
    }
    return { status: "accepted", arrival };
  });
}

/** Parses a region-log entry "<origin> <channel> <id>". */
export function parseLogEntry(shard: number, n: number, entry: string): LogEntry {
  const [origin, channel, id] = entry.split(" ");
  if (id === undefined) throw new Error(`Cannot parse region-log entry ${shard}/${n}: ${entry}`);
  return { shard, n, channel, id, origin: origin as DeltaOrigin };
}

/** Parses a lease "<epoch> <expiresAtMs> <holder>" (the holder is last: it may hold spaces). */
export function parseLease(lease: string): Lease {
  const match = /^(\d+) (\d+) ([^]*)$/.exec(lease);
  if (match === null) throw new Error(`Cannot parse stored lease: ${lease}`);
  return { holder: match[3], epoch: Number(match[1]), expiresAtMs: Number(match[2]) };
}

/** Parses "<seq> <author> <sig> <body>" (the body is last, so it may contain spaces). */
export function parseRecord(channel: string, id: string, record: string): StoredDelta {
  const a = record.indexOf(" ");
  const b = record.indexOf(" ", a + 1);
  const c = record.indexOf(" ", b + 1);
  if (a < 0 || b < 0 || c < 0) throw new Error(`Cannot parse stored record of delta ${id}`);
  return {
    id,
    channel,
    author: record.slice(a + 1, b),
    seq: Number(record.slice(0, a)),
    body: record.slice(c + 1),
    sig: record.slice(b + 1, c),
  };
}

/** Parses "<allowed 0|1> <retryAfterMs> <remaining>". */
export function parseGrant(item: string): TokenGrant {
  const match = /^([01]) (\d+) (\d+)$/.exec(item);
  if (match === null) throw new StoreUnavailableError(`Upstash answered a token draw with ${item}`);
  return {
    allowed: match[1] === "1",
    retryAfterMs: Number(match[2]),
    remaining: Number(match[3]),
  };
}

/** Parses an equivocation entry "<n> <author> <seq> <id> <existingId> <channel>". */
export function parseEquivocation(entry: string): Equivocation {
  const [n, author, seq, id, existingId, channel] = entry.split(" ");
  if (channel === undefined || !/^\d+$/.test(n) || !/^\d+$/.test(seq)) {
    throw new StoreUnavailableError(`Cannot parse a stored equivocation: ${entry.slice(0, 200)}`);
  }
  return { n: Number(n), author, channel, seq: Number(seq), id, existingId };
}
