/**
 * The HTTP plumbing every region call shares: the error shapes (an answer other than 2xx, no
 * answer at all), the request itself, and push batching. `MeshClient` and the topic and mailbox
 * calls use it; `mesh_client.ts` re-exports the public names.
 */
import { PUSH_BYTES_MAX, PUSH_DELTAS_MAX } from "../protocol/limits.ts";
import { TRACEPARENT_HEADER, traceparentFor } from "./trace_context.ts";

/** A signed delta, topic message or direct message on the wire. */
export interface Envelope {
  readonly body: string;
  readonly sig: string;
}

/** An HTTP answer other than 2xx; `problem` holds the RFC 9457 body when there was one. */
export class MeshHttpError extends Error {
  readonly status: number;
  readonly problem: Record<string, unknown> | null;

  constructor(
    status: number,
    problem: Record<string, unknown> | null,
    what: string,
  ) {
    super(
      `${what} failed with ${status}: ${problem?.detail ?? problem?.title ?? "no details"}`,
    );
    this.name = "MeshHttpError";
    this.status = status;
    this.problem = problem;
  }
}

/** No HTTP answer at all (connection refused, DNS, TLS, reset): `url` is what was tried. */
export class MeshUnreachableError extends Error {
  readonly url: string;

  constructor(url: string, what: string, cause: unknown) {
    super(`${what} could not reach ${url}: ${(cause as Error)?.message ?? cause}`, { cause });
    this.name = "MeshUnreachableError";
    this.url = url;
  }
}

/** One region's base URL and the `fetch` to reach it with. */
export class RegionHttp {
  readonly url: string;
  readonly #fetch: typeof fetch;

  constructor(url: string, fetchFn: typeof fetch) {
    this.url = url.replace(/\/+$/, "");
    this.#fetch = fetchFn;
  }

  /** The answer's JSON; `target` is a path under the region's URL, or a whole request. */
  async json<T>(what: string, target: string | Request, init?: RequestInit): Promise<T> {
    return JSON.parse(await this.text(what, target, init)) as T;
  }

  /** The answer's text; a non-2xx answer throws `MeshHttpError`, none `MeshUnreachableError`. */
  async text(what: string, target: string | Request, init?: RequestInit): Promise<string> {
    const { response, text } = await this.#read(what, target, init);
    if (!response.ok) throw httpError(response.status, text, what);
    return text;
  }

  /** As `text()`, but null for a 304 Not Modified answer (to a conditional request). */
  async textUnlessNotModified(
    what: string,
    target: string,
    init?: RequestInit,
  ): Promise<string | null> {
    const { response, text } = await this.#read(what, target, init);
    if (response.status === 304) return null;
    if (!response.ok) throw httpError(response.status, text, what);
    return text;
  }

  async #read(what: string, target: string | Request, init?: RequestInit) {
    try {
      const response = await this.#send(target, init);
      return { response, text: await response.text() };
    } catch (error) {
      throw new MeshUnreachableError(this.url, what, error);
    }
  }

  /** The 2xx response with its body unread (a stream); errors as `text()`. */
  async open(what: string, target: string | Request, init?: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await this.#send(target, init);
    } catch (error) {
      throw new MeshUnreachableError(this.url, what, error);
    }
    if (response.ok) return response;
    let text = "";
    try {
      text = await response.text();
    } catch { /* the problem details are lost: the status is enough */ }
    throw httpError(response.status, text, what);
  }

  /**
   * Sends the request with a `traceparent` (trace_context.ts) unless it has one, so the regions'
   * spans for it are one trace that starts here.
   */
  #send(target: string | Request, init: RequestInit = {}): Promise<Response> {
    if (typeof target !== "string") {
      if (!target.headers.has(TRACEPARENT_HEADER)) {
        target.headers.set(TRACEPARENT_HEADER, traceparentFor());
      }
      return this.#fetch(target, init);
    }
    const headers = new Headers(init.headers);
    if (!headers.has(TRACEPARENT_HEADER)) headers.set(TRACEPARENT_HEADER, traceparentFor());
    return this.#fetch(this.url + target, { ...init, headers });
  }
}

function httpError(status: number, text: string, what: string): MeshHttpError {
  let problem: Record<string, unknown> | null = null;
  try {
    problem = JSON.parse(text);
  } catch { /* not problem+json: keep null */ }
  return new MeshHttpError(status, problem, what);
}

/** Splits envelopes into requests of at most PUSH_DELTAS_MAX envelopes and `bytesMax` bytes. */
export function batches(
  envelopes: readonly Envelope[],
  bytesMax: number = PUSH_BYTES_MAX,
): Envelope[][] {
  const out: Envelope[][] = [];
  let batch: Envelope[] = [];
  let bytes = 16;
  for (const envelope of envelopes) {
    const size = JSON.stringify(envelope).length * 3 + 1; // UTF-8 upper bound, plus comma
    if (
      batch.length > 0 &&
      (batch.length >= PUSH_DELTAS_MAX || bytes + size > bytesMax)
    ) {
      out.push(batch);
      batch = [];
      bytes = 16;
    }
    batch.push(envelope);
    bytes += size;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}
