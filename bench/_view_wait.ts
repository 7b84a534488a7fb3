/**
 * Reading a region's view until it holds what a benchmark pushed: by long-poll (`If-None-Match`
 * with the last read's `ETag` and `wait`, docs/protocol.md §12.2), answered as soon as the view
 * changes; or, with `poll`, by reading back to back (a view round trip of granularity).
 */
export type ViewRead = "wait" | "poll";

export class ViewWaiter {
  readonly #mode: ViewRead;
  /** The entity tag of the last read, per view URL. */
  readonly #tags = new Map<string, string>();
  /** Requests made and the time they took, over every `until`. */
  requests = 0;
  requestMs = 0;

  constructor(mode: ViewRead = "wait") {
    this.#mode = mode;
  }

  /**
   * Reads `url` (a view) until `done(view)` holds; false when `timeoutMs` passed first. A wait
   * needs a tag from an earlier read, so the first read of a URL is a plain one.
   */
  async until(
    url: string,
    done: (view: { deltas: number }) => boolean,
    timeoutMs: number,
  ): Promise<boolean> {
    const started = performance.now();
    for (;;) {
      const tag = this.#tags.get(url);
      const waiting = this.#mode === "wait" && tag !== undefined;
      const read = performance.now();
      const response = await fetch(waiting ? `${url}?wait=5` : url, {
        headers: waiting ? { "if-none-match": tag } : {},
      });
      const etag = response.headers.get("etag");
      if (etag !== null) this.#tags.set(url, etag);
      const view = response.status === 304
        ? (await response.body?.cancel(), null)
        : await response.json();
      this.requests++;
      this.requestMs += performance.now() - read;
      if (view !== null && done(view)) return true;
      if (performance.now() - started > timeoutMs) return false;
    }
  }
}
