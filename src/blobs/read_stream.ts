/**
 * A blob's bytes (or a byte range of them) as a stream that reads the store one batch of chunks
 * at a time, only when the consumer asks: a 16 MiB blob is served holding at most one batch
 * (≤ 1 MiB) per request. A chunk that vanished while the stream was read (the collector removed
 * the blob) errors the stream, so the client sees a broken answer, never a wrong one.
 */
import type { BlobRecord, BlobStore } from "../store/blob_store.ts";

/** Bytes `start` … `end` (inclusive) of the blob `record`, read lazily from `blobs`. */
export function blobStream(
  blobs: BlobStore,
  record: BlobRecord,
  start: number,
  end: number,
  onBytes: (bytes: number) => void = () => {},
): ReadableStream<Uint8Array> {
  const { chunkBytes, upload } = record;
  const lastChunk = Math.floor(end / chunkBytes);
  let next = Math.floor(start / chunkBytes);
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const count = Math.min(blobs.chunksPerWrite, lastChunk - next + 1);
      const chunks = await blobs.readChunks(upload, next, count);
      for (const [k, chunk] of chunks.entries()) {
        const index = next + k;
        if (chunk === null) {
          controller.error(new Error(`blob ${record.sha256} lost chunk ${index} while read`));
          return;
        }
        const offset = index * chunkBytes;
        const from = Math.max(start - offset, 0);
        const to = Math.min(end - offset + 1, chunk.length);
        const piece = from === 0 && to === chunk.length ? chunk : chunk.subarray(from, to);
        controller.enqueue(piece);
        onBytes(piece.length);
      }
      next += count;
      if (next > lastChunk) controller.close();
    },
  }, { highWaterMark: 0 });
}
