/**
 * Blobs from the agent's side (docs/protocol.md §25): upload a blob with a request the agent
 * signs (RFC 9421; its `Content-Digest` is the blob's own hash, so a body of any size is signed
 * without being read twice), then push the signed metadata that references it in `_blobs`; read
 * a blob back, whole or a byte range, and check a whole blob against its name as it streams in —
 * so no region, honest or not, can hand an agent other bytes. `MeshClient.putBlob/getBlob/
 * openBlob` call these.
 */
import type { AgentKey } from "../crypto/agent_key.ts";
import { createSha256 } from "../crypto/sha256.ts";
import {
  BLOB_BYTES_MAX,
  type BlobMeta,
  blobRefKey,
  BLOBS_CHANNEL,
  SHA256_HEX_PATTERN,
} from "../protocol/blob_ref.ts";
import type { Op } from "../protocol/delta.ts";
import type { DeltaResult } from "../protocol/result.ts";
import type { Envelope, RegionHttp } from "./_http.ts";
import { signRequest, type SignRequestOptions } from "./request_signer.ts";

/** Bytes in memory, or a stream that can be opened again (hashed first, then sent). */
export type BlobSource = Uint8Array | {
  /** A fresh stream of the same bytes at each call. */
  readonly stream: () => ReadableStream<Uint8Array>;
  /** The bytes' SHA-256 (hex) and size when known: the stream is then read once. */
  readonly sha256?: string;
  readonly size?: number;
};

/** What an agent says about a blob: its signed `_blobs` entry, size aside (measured). */
export interface BlobMetaInput {
  readonly name: string;
  /** Media type; default `application/octet-stream`. */
  readonly type?: string;
  readonly tags?: readonly string[];
}

/** An agent that signs: its key for the upload, its seqs for the metadata delta (an `Agent`). */
export interface BlobSigner {
  readonly key: AgentKey;
  signNext(channel: string, ops: readonly Op[]): Promise<Envelope>;
  /** Throws when every region would refuse a delta of `ops` (an `Agent` checks its own). */
  check?(channel: string, ops: readonly Op[]): void;
}

export interface UploadedBlob {
  readonly sha256: string;
  readonly size: number;
  /** `stored` now, or `exists` (the region had it: nothing was sent again). */
  readonly status: "stored" | "exists";
}

export interface PutBlobResult extends UploadedBlob {
  /** The region's result for the metadata delta. */
  readonly ref: DeltaResult;
}

/** A byte range: bytes `start` … `end`, inclusive; `end` omitted: to the end. */
export interface ByteRange {
  readonly start: number;
  readonly end?: number;
}

/** A blob as read: the bytes (or the range's), and whether they were checked against the name. */
export interface OpenedBlob {
  /** The bytes; a whole blob's stream errors at its end when they do not hash to the name. */
  readonly stream: ReadableStream<Uint8Array>;
  /** The whole blob's size. */
  readonly size: number;
  /** The range answered, or null for the whole blob. */
  readonly range: { readonly start: number; readonly end: number } | null;
  /** True for a whole blob (checked as it streams); a range cannot be checked alone. */
  readonly verified: boolean;
}

/** Bytes that do not hash to the blob's name: the region (or a peer it asked) lied. */
export class BlobVerificationError extends Error {
  constructor(readonly sha256: string, readonly actual: string) {
    super(`The blob read as ${sha256} hashes to ${actual}: refused`);
    this.name = "BlobVerificationError";
  }
}

/** The SHA-256 (hex) and size of a stream, read once. */
export async function hashStream(
  stream: ReadableStream<Uint8Array>,
): Promise<{ sha256: string; size: number }> {
  const hash = createSha256();
  let size = 0;
  for await (const piece of stream) {
    hash.update(piece);
    size += piece.length;
  }
  return { sha256: hex(hash.digest()), size };
}

/** `PUT /v1/blobs/{sha256}` of `source`, signed with `key`. */
export async function uploadBlob(
  http: RegionHttp,
  key: AgentKey,
  source: BlobSource,
  signing: SignRequestOptions = {},
): Promise<UploadedBlob> {
  const { sha256, size } = source instanceof Uint8Array
    ? { sha256: hex(sha(source)), size: source.length }
    : source.sha256 !== undefined && source.size !== undefined
    ? { sha256: source.sha256, size: source.size }
    : await hashStream(source.stream());
  if (!SHA256_HEX_PATTERN.test(sha256)) throw new TypeError(`Not a SHA-256 in hex: ${sha256}`);
  if (size < 1 || size > BLOB_BYTES_MAX) {
    throw new RangeError(`Cannot upload ${size} bytes: a blob has 1 … ${BLOB_BYTES_MAX}`);
  }
  const url = `${http.url}/v1/blobs/${sha256}`;
  // The signature covers the digest, not the body: sign a bodiless twin, then send the bytes
  // (with their length, so a region refuses what it cannot take before a byte is sent).
  const signed = await signRequest(key, new Request(url, { method: "PUT" }), {
    ...signing,
    bodySha256: fromHex(sha256),
  });
  const body = source instanceof Uint8Array ? source : source.stream();
  const request = new Request(url, {
    method: "PUT",
    headers: signed.headers,
    body,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
  const answer = await http.json<UploadedBlob>("upload blob", request);
  return { sha256: answer.sha256, size: answer.size, status: answer.status };
}

/** The `_blobs` op that references blob `sha256` of `size` bytes for `author`. */
export function blobRefOp(author: string, sha256: string, size: number, meta: BlobMetaInput): Op {
  const value: BlobMeta = {
    name: meta.name,
    type: meta.type ?? "application/octet-stream",
    size,
    ...(meta.tags === undefined ? {} : { tags: [...meta.tags] }),
  };
  return { op: "set", key: blobRefKey(author, sha256), value };
}

/**
 * Uploads `source` signed by `signer`, then signs and pushes its metadata (`push`): the blob is
 * referenced, so every region can fetch it and the collector keeps it. Metadata the schema
 * refuses throws `InvalidDeltaError` before anything is sent.
 */
export async function putBlob(
  http: RegionHttp,
  push: (envelopes: readonly Envelope[]) => Promise<DeltaResult[]>,
  signer: BlobSigner,
  source: BlobSource,
  meta: BlobMetaInput,
  signing: SignRequestOptions = {},
): Promise<PutBlobResult> {
  const known = source instanceof Uint8Array ? source.length : source.size;
  if (known !== undefined) {
    // Checks the metadata (and claims no seq) before the bytes travel.
    const probe = blobRefOp(signer.key.id, "0".repeat(64), Math.max(1, known), meta);
    signer.check?.(BLOBS_CHANNEL, [probe]);
  }
  const uploaded = await uploadBlob(http, signer.key, source, signing);
  const op = blobRefOp(signer.key.id, uploaded.sha256, uploaded.size, meta);
  const [ref] = await push([await signer.signNext(BLOBS_CHANNEL, [op])]);
  return { ...uploaded, ref };
}

/** `GET /v1/blobs/{sha256}`, whole (checked as it streams) or one byte range. */
export async function openBlob(
  http: RegionHttp,
  sha256: string,
  options: { readonly range?: ByteRange } = {},
): Promise<OpenedBlob> {
  if (!SHA256_HEX_PATTERN.test(sha256)) {
    throw new TypeError(`A blob is named by 64 lowercase hex digits, got ${sha256}`);
  }
  const { range } = options;
  const headers: Record<string, string> = {};
  if (range !== undefined) headers.range = `bytes=${range.start}-${range.end ?? ""}`;
  const response = await http.open("read blob", `/v1/blobs/${sha256}`, { headers });
  const body = response.body ?? new ReadableStream({ start: (c) => c.close() });
  if (response.status === 206) {
    const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(response.headers.get("content-range") ?? "");
    if (match === null) throw new TypeError("A 206 answer without a valid Content-Range");
    const [start, end, size] = [Number(match[1]), Number(match[2]), Number(match[3])];
    const stream = body.pipeThrough(bounded(end - start + 1, sha256));
    return { stream, size, range: { start, end }, verified: false };
  }
  const size = Number(response.headers.get("content-length") ?? "-1");
  const stream = body.pipeThrough(bounded(BLOB_BYTES_MAX, sha256)).pipeThrough(verifier(sha256));
  return { stream, size, range: null, verified: true };
}

/** The blob's bytes (or the range's): `openBlob` read to the end. */
export async function getBlob(
  http: RegionHttp,
  sha256: string,
  options: { readonly range?: ByteRange } = {},
): Promise<Uint8Array> {
  const opened = await openBlob(http, sha256, options);
  return new Uint8Array(await new Response(opened.stream).arrayBuffer());
}

/**
 * Passes at most `bytesMax` bytes through and errors as soon as more come (a region that sends
 * more than a blob, or the range it answered, can hold is lying): a read never buffers more.
 */
function bounded(bytesMax: number, sha256: string): TransformStream<Uint8Array, Uint8Array> {
  let seen = 0;
  return new TransformStream({
    transform(piece, controller) {
      seen += piece.length;
      if (seen > bytesMax) {
        controller.error(
          new RangeError(`The read of blob ${sha256} ran past ${bytesMax} bytes: refused`),
        );
        return;
      }
      controller.enqueue(piece);
    },
  });
}

/** Passes bytes through and errors at the end unless they hash to `sha256`. */
function verifier(sha256: string): TransformStream<Uint8Array, Uint8Array> {
  const hash = createSha256();
  return new TransformStream({
    transform(piece, controller) {
      hash.update(piece);
      controller.enqueue(piece);
    },
    flush(controller) {
      const actual = hex(hash.digest());
      if (actual !== sha256) controller.error(new BlobVerificationError(sha256, actual));
    },
  });
}

function sha(bytes: Uint8Array): Uint8Array {
  const hash = createSha256();
  hash.update(bytes);
  return hash.digest();
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(text: string): Uint8Array {
  return Uint8Array.from(
    { length: text.length / 2 },
    (_, i) => parseInt(text.slice(2 * i, 2 * i + 2), 16),
  );
}
