/**
 * The blob part of `UpstashStore` (rules in `blob_store.ts`). Layout, all under the hash tag
 * `{~blobs}` so every script touches one cluster slot (`P` = the store's prefix):
 *   P{~blobs}:b              hash  sha256 → "<size> <chunkBytes> <storedAtMs> <upload>"
 *   P{~blobs}:u              hash  upload → "<startedAtMs> <open|dead> <chunks>"
 *   P{~blobs}:c:<upload>     hash  chunk index → chunk bytes as base64 (REST carries text)
 * Each operation is one script call (atomic in redis) or one command, in one request. A chunk
 * of 256 KiB is 350 KB of base64, so a write of four stays far below Upstash's 10 MB request.
 */
import type { UpstashRunner } from "./_upstash_runner.ts";
import { UPSTASH_REQUEST_BYTES_MAX } from "./_upstash_options.ts";
import {
  assertBlobPage,
  assertBlobRecord,
  assertChunkRead,
  assertChunks,
  assertSha256,
  assertUploadId,
  type BlobPage,
  type BlobRecord,
  type BlobStore,
  chunkCount,
  type CommitOutcome,
  type UploadRecord,
} from "./blob_store.ts";
import { StoreUnavailableError } from "./region_store.ts";

/** Raw bytes per chunk on Upstash. */
export const UPSTASH_BLOB_CHUNK_BYTES = 262_144;
/** Chunks per request (1 MiB raw, 1.4 MB as base64). */
export const UPSTASH_BLOB_CHUNKS_PER_WRITE = 4;

if (
  Math.ceil(UPSTASH_BLOB_CHUNK_BYTES * UPSTASH_BLOB_CHUNKS_PER_WRITE * 4 / 3) * 2 >
    UPSTASH_REQUEST_BYTES_MAX
) {
  throw new Error("A blob chunk write must fit one Upstash request with room to spare");
}

const PUT_CHUNKS_SCRIPT = `
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
local started, state, chunks = string.match(rec, '^(%d+) (%a+) (%d+)$')
if state ~= 'open' then return 0 end
local first = tonumber(ARGV[2])
local n = #ARGV - 2
for i = 1, n do redis.call('HSET', KEYS[2], tostring(first + i - 1), ARGV[i + 2]) end
redis.call('HSET', KEYS[1], ARGV[1], started .. ' open ' .. math.max(tonumber(chunks), first + n))
return 1`;

const COMMIT_SCRIPT = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'exists' end
local rec = redis.call('HGET', KEYS[2], ARGV[2])
if not rec or not string.find(rec, ' open ', 1, true) then return 'lost' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HDEL', KEYS[2], ARGV[2])
return 'committed'`;

const TOUCH_SCRIPT = `
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
local size, cb, at, up = string.match(rec, '^(%d+) (%d+) (%d+) (%S+)$')
if tonumber(at) < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], size .. ' ' .. cb .. ' ' .. ARGV[2] .. ' ' .. up)
end
return 1`;

const REMOVE_SCRIPT = `
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return 1`;

const DROP_SCRIPT = `
local rec = redis.call('HGET', KEYS[1], ARGV[1])
if not rec then return 0 end
local started, state = string.match(rec, '^(%d+) (%a+) ')
if state == 'open' and ARGV[2] ~= '' and tonumber(started) >= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[2])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1`;

export class UpstashBlobs implements BlobStore {
  readonly chunkBytes = UPSTASH_BLOB_CHUNK_BYTES;
  readonly chunksPerWrite = UPSTASH_BLOB_CHUNKS_PER_WRITE;
  readonly #run: UpstashRunner;
  readonly #base: string;

  constructor(run: UpstashRunner, prefix: string) {
    this.#run = run;
    this.#base = `${prefix}{~blobs}`;
  }

  async beginUpload(upload: string, nowMs: number): Promise<void> {
    assertUploadId(upload);
    const [reply] = await this.#run.guard(
      "begin an upload",
      () => this.#run.exec([0], (p) => p.hsetnx(`${this.#base}:u`, upload, `${nowMs} open 0`)),
    );
    if (reply.error) throw new StoreUnavailableError(`Upstash rejected HSETNX: ${reply.error}`);
    if (Number(reply.result) !== 1) throw new Error(`Cannot begin upload ${upload} twice`);
  }

  async putChunks(upload: string, first: number, chunks: readonly Uint8Array[]): Promise<boolean> {
    assertChunks(this, upload, first, chunks);
    const reply = await this.#run.script(
      "write blob chunks",
      PUT_CHUNKS_SCRIPT,
      [`${this.#base}:u`, this.#chunksKey(upload)],
      [upload, String(first), ...chunks.map(toBase64)],
    );
    return Number(reply) === 1;
  }

  async commitBlob(record: BlobRecord): Promise<CommitOutcome> {
    assertBlobRecord(record);
    const reply = String(
      await this.#run.script("commit a blob", COMMIT_SCRIPT, [
        `${this.#base}:b`,
        `${this.#base}:u`,
      ], [record.sha256, record.upload, blobText(record)]),
    );
    if (reply !== "committed" && reply !== "exists" && reply !== "lost") {
      throw new StoreUnavailableError(`Upstash answered a blob commit with ${reply}`);
    }
    return reply;
  }

  async getBlob(sha256: string): Promise<BlobRecord | null> {
    assertSha256(sha256);
    const [reply] = await this.#run.guard(
      "read a blob",
      () => this.#run.exec([0], (p) => p.hget(`${this.#base}:b`, sha256)),
    );
    if (reply.error) throw new StoreUnavailableError(`Upstash rejected HGET: ${reply.error}`);
    return reply.result === null || reply.result === undefined
      ? null
      : parseBlob(sha256, String(reply.result));
  }

  async touchBlob(sha256: string, nowMs: number): Promise<boolean> {
    assertSha256(sha256);
    const keys = [`${this.#base}:b`];
    return Number(
      await this.#run.script("touch a blob", TOUCH_SCRIPT, keys, [sha256, String(nowMs)]),
    ) === 1;
  }

  async readChunks(upload: string, first: number, count: number): Promise<(Uint8Array | null)[]> {
    assertChunkRead(this, upload, first, count);
    const fields = Array.from({ length: count }, (_, i) => String(first + i));
    const [reply] = await this.#run.guard(
      "read blob chunks",
      () => this.#run.exec([0], (p) => p.hmget(this.#chunksKey(upload), ...fields)),
    );
    if (reply.error) throw new StoreUnavailableError(`Upstash rejected HMGET: ${reply.error}`);
    // HMGET answers an array; the client may turn it into an object keyed by field.
    const values = Array.isArray(reply.result)
      ? reply.result
      : fields.map((f) => (reply.result as Record<string, unknown> | null)?.[f] ?? null);
    return values.map((v) => v === null || v === undefined ? null : fromBase64(String(v)));
  }

  listBlobs(cursor: string | null, limit: number): Promise<BlobPage<BlobRecord>> {
    return this.#scan(`${this.#base}:b`, cursor, limit, parseBlob);
  }

  listUploads(cursor: string | null, limit: number): Promise<BlobPage<UploadRecord>> {
    return this.#scan(`${this.#base}:u`, cursor, limit, parseUpload);
  }

  async #scan<T>(
    key: string,
    cursor: string | null,
    limit: number,
    parse: (name: string, text: string) => T,
  ): Promise<BlobPage<T>> {
    assertBlobPage(limit);
    const [reply] = await this.#run.guard(
      "list blob records",
      () => this.#run.exec([0], (p) => p.hscan(key, cursor ?? "0", { count: limit })),
    );
    if (reply.error) throw new StoreUnavailableError(`Upstash rejected HSCAN: ${reply.error}`);
    const [next, flat] = reply.result as [string | number, unknown[]];
    const items: T[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      items.push(parse(String(flat[i]), String(flat[i + 1])));
    }
    return { items, cursor: String(next) === "0" ? null : String(next) };
  }

  async removeBlob(record: BlobRecord): Promise<boolean> {
    assertBlobRecord(record);
    const chunks = chunkCount(record.size, record.chunkBytes);
    const removed = Number(
      await this.#run.script(
        "remove a blob",
        REMOVE_SCRIPT,
        [`${this.#base}:b`, `${this.#base}:u`],
        [record.sha256, blobText(record), record.upload, `0 dead ${chunks}`],
      ),
    ) === 1;
    if (removed) await this.dropUpload(record.upload);
    return removed;
  }

  async dropUpload(upload: string, startedBeforeMs?: number): Promise<boolean> {
    assertUploadId(upload);
    const keys = [`${this.#base}:u`, this.#chunksKey(upload)];
    const before = startedBeforeMs === undefined ? "" : String(startedBeforeMs);
    return Number(
      await this.#run.script("drop an upload", DROP_SCRIPT, keys, [upload, before]),
    ) === 1;
  }

  #chunksKey(upload: string): string {
    return `${this.#base}:c:${upload}`;
  }
}

function blobText(record: BlobRecord): string {
  return `${record.size} ${record.chunkBytes} ${record.storedAtMs} ${record.upload}`;
}

function parseBlob(sha256: string, text: string): BlobRecord {
  const match = /^(\d+) (\d+) (\d+) (\S+)$/.exec(text);
  if (match === null) throw new StoreUnavailableError(`Cannot parse blob record ${sha256}`);
  return {
    sha256,
    size: Number(match[1]),
    chunkBytes: Number(match[2]),
    storedAtMs: Number(match[3]),
    upload: match[4],
  };
}

function parseUpload(upload: string, text: string): UploadRecord {
  const match = /^(\d+) (open|dead) (\d+)$/.exec(text);
  if (match === null) throw new StoreUnavailableError(`Cannot parse upload record ${upload}`);
  return {
    upload,
    startedAtMs: Number(match[1]),
    dead: match[2] === "dead",
    chunks: Number(match[3]),
  };
}

type Base64Bytes = Uint8Array & { toBase64?: () => string };
type Base64Ctor = { fromBase64?: (text: string) => Uint8Array };

/** Standard base64 of `bytes` (native where the runtime has it). */
function toBase64(bytes: Uint8Array): string {
  const native = (bytes as Base64Bytes).toBase64;
  if (typeof native === "function") return native.call(bytes);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  const native = (Uint8Array as Base64Ctor).fromBase64;
  if (typeof native === "function") return native(text);
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}
