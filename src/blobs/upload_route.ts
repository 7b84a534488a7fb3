/**
 * `PUT /v1/blobs/{sha256}` (docs/protocol.md §25.3): an agent's signed upload of a blob. Checks,
 * in order: the hash's spelling (400), a declared `Content-Length` over 16 MiB (413) or of 0
 * (400), the client address's request token (429), the RFC 9421 signature — whose
 * `Content-Digest` must be the hash itself (401) — and its nonce; then a blob already stored is
 * answered at once (200, nothing read); else the declared bytes are drawn from the author's and
 * the address's byte budgets (429), and the body is streamed into the store (`receiveBlob`),
 * charged as it comes when no length was declared. Only a body that hashes to the name becomes
 * readable (201); every other outcome leaves nothing behind.
 */
import type { Context } from "hono";
import type { Span } from "@opentelemetry/api";
import { BLOB_BYTES_MAX } from "../protocol/blob_ref.ts";
import { retryAfterSeconds } from "../guard/rate_limiter.ts";
import { signedByAgent } from "../region/agent_request.ts";
import type { RegionDeps } from "../region/deps.ts";
import { Problem } from "../region/problem.ts";
import { chargeAddress } from "../region/push_route.ts";
import { names } from "../telemetry/mod.ts";
import { BLOB_UPLOAD_MS_MAX, type Blobs } from "./blobs.ts";
import { type BlobPayer, drawBlobBytes } from "./budget.ts";
import { blobEtag } from "./range.ts";
import { receiveBlob, type Received } from "./receive.ts";

/** The `{sha256}` of a blob route, checked: 64 lowercase hex digits. */
export function shaParam(c: Context): string {
  const sha = c.req.param("sha256") ?? "";
  if (!/^[0-9a-f]{64}$/.test(sha)) {
    throw new Problem(
      "invalid-request",
      "A blob is named by its SHA-256 as 64 lowercase hex digits",
    );
  }
  return sha;
}

/** `PUT /v1/blobs/{sha256}`. */
export function uploadHandler(blobs: Blobs, deps: RegionDeps) {
  return (c: Context) => {
    const sha = shaParam(c);
    const declared = declaredLength(c.req.header("content-length"));
    return deps.telemetry.inSpan(names.SPAN_BLOB_UPLOAD, deps.base, async (span) => {
      const address = await chargeAddress(deps, c, span);
      const nowMs = deps.now();
      const { verified } = await signedByAgent(c, undefined, span, {
        ...deps,
        nowMs,
        bodyBytesMax: 0,
        streamedSha256: fromHex(sha),
      });
      const stored = await blobs.store.blobs.getBlob(sha);
      // Uploaded again: its grace starts over, so the metadata the author pushes next finds it.
      // A touch that finds nothing means the collector removed it meanwhile: read the body.
      if (stored !== null && await blobs.store.blobs.touchBlob(sha, nowMs)) {
        await c.req.raw.body?.cancel().catch(() => {});
        span.setAttributes({
          [names.ATTR_BLOB_OUTCOME]: "exists",
          [names.ATTR_BLOB_SIZE]: stored.size,
        });
        return c.json({ sha256: sha, size: stored.size, status: "exists" }, 200);
      }
      const charge = budgetCharge(blobs, { author: verified.agent, address }, span);
      if (declared !== null) await charge(declared);
      const received = await receiveBlob(blobs.store.blobs, sha, c.req.raw.body, {
        nowMs,
        bytesMax: BLOB_BYTES_MAX,
        charge,
        signal: AbortSignal.timeout(BLOB_UPLOAD_MS_MAX),
      });
      span.setAttribute(names.ATTR_BLOB_OUTCOME, received.status);
      return answer(c, blobs, sha, received);
    });
  };
}

/** The declared body length, or null when none was declared (a chunked body). */
function declaredLength(header: string | undefined): number | null {
  if (header === undefined) return null;
  if (!/^[0-9]{1,16}$/.test(header.trim())) {
    throw new Problem("invalid-request", "Content-Length must be a whole number of bytes");
  }
  const bytes = Number(header.trim());
  if (bytes > BLOB_BYTES_MAX) throw tooLarge();
  if (bytes === 0) throw empty();
  return bytes;
}

/**
 * Charges the payer's budgets up to `totalBytes` (each byte once): the declared length before
 * anything is read, or each write's bytes as they come. Throws the 429 when refused.
 */
function budgetCharge(blobs: Blobs, payer: BlobPayer, span: Span) {
  let paid = 0;
  return async (totalBytes: number): Promise<void> => {
    if (totalBytes <= paid) return;
    const grant = await drawBlobBytes(
      blobs.store,
      blobs.budgets,
      payer,
      totalBytes - paid,
      blobs.now(),
    );
    if (!grant.allowed) {
      span.setAttribute(names.ATTR_BLOB_OUTCOME, "rate_limited");
      const seconds = retryAfterSeconds(grant.retryAfterMs);
      throw new Problem(
        "rate-limited",
        `This author or client address is over its blob upload budget; retry after ${seconds} s`,
        { "retry-after": String(seconds) },
      );
    }
    paid = totalBytes;
  };
}

function answer(c: Context, blobs: Blobs, sha: string, received: Received): Response {
  switch (received.status) {
    case "stored":
      blobs.telemetry.blobBytes.add(received.record.size, {
        ...blobs.base,
        [names.ATTR_BLOB_DIRECTION]: "upload",
      });
      c.header("location", `/v1/blobs/${sha}`);
      c.header("etag", blobEtag(sha));
      return c.json({ sha256: sha, size: received.record.size, status: "stored" }, 201);
    case "exists":
      return c.json({ sha256: sha, size: received.record.size, status: "exists" }, 200);
    case "too_large":
      throw tooLarge();
    case "empty":
      throw empty();
    case "mismatch":
      throw new Problem(
        "blob-mismatch",
        `The body (${received.size} bytes) has SHA-256 ${received.actual}, not ${sha}: nothing was stored`,
      );
    case "interrupted":
      throw new Problem(
        "malformed-request",
        `The body could not be read to its end (${received.detail}): nothing was stored`,
      );
    case "lost":
      throw new Problem(
        "store-unavailable",
        "The upload was collected before it ended: nothing was stored; retry",
        { "retry-after": "1" },
      );
  }
}

function tooLarge(): Problem {
  return new Problem("payload-too-large", `A blob is at most ${BLOB_BYTES_MAX} bytes`);
}

function empty(): Problem {
  return new Problem("invalid-request", "A blob has at least one byte; the body was empty");
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(
    { length: hex.length / 2 },
    (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16),
  );
}
