/**
 * Reads a JSON request body with a byte limit, without ever buffering more than the limit: a
 * declared Content-Length over the limit is refused before reading, and a streamed body is cut
 * off as soon as it passes the limit.
 */
import { Problem } from "./problem.ts";

const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** Checks the media type is JSON (`application/json`, parameters allowed). */
export function requireJson(request: Request): void {
  const type = request.headers.get("content-type") ?? "";
  const essence = type.split(";")[0].trim().toLowerCase();
  if (essence !== "application/json") {
    throw new Problem(
      "unsupported-media-type",
      `Content-Type must be application/json, got ${JSON.stringify(type || "(none)")}`,
    );
  }
}

/** Reads at most `bytesMax` bytes of body, decodes strict UTF-8 and parses JSON. */
export async function readJsonBody(request: Request, bytesMax: number): Promise<unknown> {
  const text = await readTextBody(request, bytesMax);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Problem(
      "malformed-request",
      `Request body is not valid JSON: ${(error as Error).message}`,
    );
  }
}

/** Reads at most `bytesMax` bytes of body and decodes strict UTF-8. */
export async function readTextBody(request: Request, bytesMax: number): Promise<string> {
  const bytes = await readBodyBytes(request, bytesMax);
  try {
    return decoder.decode(bytes);
  } catch {
    throw new Problem("malformed-request", "Request body is not valid UTF-8");
  }
}

/** Reads at most `bytesMax` bytes of body (a declared larger Content-Length is refused unread). */
export async function readBodyBytes(request: Request, bytesMax: number): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > bytesMax) throw tooLarge(bytesMax);
  // A declared length within the limit bounds the body (the server frames it by that length):
  // read it whole, without a stream reader's turn per chunk.
  if (declared !== null && /^[0-9]+$/.test(declared) && request.body !== null) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await request.arrayBuffer());
    } catch (error) {
      throw new Problem("malformed-request", `Request body could not be read: ${error}`);
    }
    // A request built in process is not framed by its header: check what was read all the same.
    if (bytes.length > bytesMax) throw tooLarge(bytesMax);
    return bytes;
  }
  return await readCapped(request.body, bytesMax);
}

async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  bytesMax: number,
): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read().catch((error) => {
        throw new Problem(
          "malformed-request",
          `Request body could not be read: ${error}`,
        );
      });
      if (done) break;
      total += value.length;
      if (total > bytesMax) {
        await reader.cancel("request body over the limit");
        throw tooLarge(bytesMax);
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

function tooLarge(bytesMax: number): Problem {
  return new Problem(
    "payload-too-large",
    `Request body exceeds ${bytesMax} bytes`,
  );
}
