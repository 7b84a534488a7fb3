/** The options of `UpstashStore`, their limits, and the REST client it builds for itself. */
import { Redis } from "@upstash/redis";
import { z } from "zod";

/** Upstash's own limit on one request (and one response), in bytes (Free and Pay as you go). */
export const UPSTASH_REQUEST_BYTES_MAX = 10_000_000;
/** Default budget of one `putDeltas` request, in bytes; leaves room under the Upstash limit. */
export const PUT_REQUEST_BYTES_DEFAULT = 8_000_000;
/** Default budget of record bytes in one `listArrivals` page (base64 grows it by 4/3). */
export const LIST_PAGE_BYTES_DEFAULT = 4_000_000;
/** Default timeout of one REST request including the client's retries, in milliseconds. */
export const REQUEST_TIMEOUT_MS_DEFAULT = 5_000;
/** Default retries of a request whose `fetch` failed (network error), inside the client. */
export const REQUEST_RETRIES_DEFAULT = 2;
/** Most retries configurable, so a request's time stays bounded. */
export const REQUEST_RETRIES_MAX = 5;
/** How long a script call's outcomes are kept to answer a retried request, in seconds. */
export const REPLAY_GUARD_TTL_SECONDS = 60;
/** Longest client error message kept in a StoreUnavailableError, in characters. */
export const ERROR_MESSAGE_CHARS_MAX = 300;

if (PUT_REQUEST_BYTES_DEFAULT >= UPSTASH_REQUEST_BYTES_MAX) {
  throw new Error("PUT_REQUEST_BYTES_DEFAULT must stay below UPSTASH_REQUEST_BYTES_MAX");
}
if (LIST_PAGE_BYTES_DEFAULT * 4 / 3 >= UPSTASH_REQUEST_BYTES_MAX) {
  throw new Error("LIST_PAGE_BYTES_DEFAULT, base64-encoded, must fit UPSTASH_REQUEST_BYTES_MAX");
}
if (REPLAY_GUARD_TTL_SECONDS * 1_000 <= REQUEST_TIMEOUT_MS_DEFAULT) {
  throw new Error("REPLAY_GUARD_TTL_SECONDS must outlive a request with its retries");
}

export const tuningSchema = z.object({
  /** Key prefix; several regions or tests can share one database. Default `"mesh:"`. */
  prefix: z.string().regex(/^[^{}\s]*$/, "must not contain braces or whitespace").optional(),
  /** Request budget of `putDeltas`, in bytes. Default {@linkcode PUT_REQUEST_BYTES_DEFAULT}. */
  putRequestBytesMax: z.number().int().min(100_000).max(UPSTASH_REQUEST_BYTES_MAX).optional(),
  /** Record bytes per `listArrivals` page. Default {@linkcode LIST_PAGE_BYTES_DEFAULT}. */
  listPageBytesMax: z.number().int().min(1).max(UPSTASH_REQUEST_BYTES_MAX).optional(),
});

export const connectionSchema = tuningSchema.extend({
  /** The REST URL (`UPSTASH_REDIS_REST_URL`). */
  url: z.string().regex(/^https?:\/\/\S+$/, "must be an http(s) URL"),
  /** The REST token (`UPSTASH_REDIS_REST_TOKEN`). */
  token: z.string().min(1),
  /** Timeout of one request with its retries. Default {@linkcode REQUEST_TIMEOUT_MS_DEFAULT}. */
  requestTimeoutMs: z.number().int().positive().optional(),
  /** Retries after a network error. Default {@linkcode REQUEST_RETRIES_DEFAULT}. */
  retries: z.number().int().min(0).max(REQUEST_RETRIES_MAX).optional(),
});

/** Options of a store that talks to a Redis client it is given. */
export type UpstashStoreTuning = z.input<typeof tuningSchema>;
/** Options of a store that builds its own client from a REST URL and token. */
export type UpstashStoreOptions = z.input<typeof connectionSchema>;

export function validate<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new TypeError(
    `Cannot create UpstashStore as '${issue.path.join(".")}' is invalid: ${issue.message}`,
  );
}

/** A client of its own for `{url, token}`: no auto-pipelining or deserialization, a timeout per
 * request, bounded retries. */
export function upstashClient(options: z.output<typeof connectionSchema>): Redis {
  const timeoutMs = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS_DEFAULT;
  return new Redis({
    url: options.url,
    token: options.token,
    automaticDeserialization: false,
    enableAutoPipelining: false,
    enableTelemetry: false,
    retry: {
      retries: options.retries ?? REQUEST_RETRIES_DEFAULT,
      backoff: (retryCount) => 50 * 2 ** retryCount,
    },
    // A factory, not a signal: with a plain AbortSignal the client turns a timeout into a
    // made-up successful result instead of an error.
    signal: () => AbortSignal.timeout(timeoutMs),
  });
}
