/** Helpers of the blob tests: a region app with the blob routes, signed uploads, test bytes. */
import type { Hono } from "hono";
import { blobRoutes, Blobs, type BlobsOptions } from "../../src/blobs/mod.ts";
import type { AgentKey } from "../../src/crypto/agent_key.ts";
import { signRequest } from "../../src/client/request_signer.ts";
import { createRegionApp } from "../../src/region/app.ts";
import { MemoryStore } from "../../src/store/memory_store.ts";
import type { RegionStore } from "../../src/store/region_store.ts";
import { patternBytes, sha256Hex } from "../store/_blob_cases.ts";
import { T0_MS } from "../support/signing.ts";

export { patternBytes, sha256Hex };

export const BASE_URL = "http://blob.test";

export interface BlobRegion {
  readonly app: Hono;
  readonly store: RegionStore;
  readonly blobs: Blobs;
  /** The region's clock (the test moves it). */
  nowMs: number;
}

/** A standalone region app over `store` (default memory) with the blob routes mounted. */
export function blobRegion(
  options: Partial<BlobsOptions> & { store?: RegionStore } = {},
): BlobRegion {
  const store = options.store ?? new MemoryStore();
  const region = { nowMs: T0_MS } as BlobRegion & { nowMs: number };
  const now = () => region.nowMs;
  const blobs = new Blobs({ region: "t", ...options, store, now });
  const app = createRegionApp({ region: "t", store, now, routes: [blobRoutes(blobs)] });
  return Object.assign(region, { app, store, blobs });
}

/** A streamed body of `bytes` in pieces of `pieceBytes`. */
export function streamOf(bytes: Uint8Array, pieceBytes = 65_536): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(at, at + pieceBytes));
      at += pieceBytes;
    },
  });
}

export interface PutOptions {
  /** The name in the path; default the bytes' hash. */
  readonly sha?: string;
  readonly nowMs?: number;
  /** Send the body as a stream (chunked: no Content-Length). */
  readonly stream?: ReadableStream<Uint8Array>;
  /** The SHA-256 the signature's Content-Digest claims; default the name's. */
  readonly digestOf?: string;
  readonly url?: string;
}

/** A `PUT /v1/blobs/{sha}` of `bytes` signed by `key`. */
export async function signedPut(
  key: AgentKey,
  bytes: Uint8Array,
  options: PutOptions = {},
): Promise<Request> {
  const sha = options.sha ?? sha256Hex(bytes);
  const body = options.stream ?? bytes;
  const request = new Request(`${options.url ?? BASE_URL}/v1/blobs/${sha}`, {
    method: "PUT",
    body,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
  const signed = await signRequest(key, request, {
    nowMs: options.nowMs ?? T0_MS,
    bodySha256: fromHex(options.digestOf ?? sha),
  });
  // Bytes go with their length, as fetch sends them (a stream goes chunked, without one).
  if (options.stream === undefined) signed.headers.set("content-length", String(bytes.length));
  return signed;
}

export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from({ length: 32 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/** Every upload record and chunk left in a memory store (what a refused upload must not leave). */
export async function leftovers(store: MemoryStore): Promise<{ uploads: number; chunks: number }> {
  const page = await store.blobs.listUploads(null, 1_000);
  return { uploads: page.items.length, chunks: store.blobs.chunksHeld };
}
