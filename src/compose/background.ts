/**
 * Work a request starts and does not wait for (a batch of liveness writes, say). A long-lived
 * process finishes it anyway; hosts that end a request's I/O with its answer (Cloudflare Workers,
 * Vercel Edge) cut it short unless the request hands it to its `waitUntil` — and then whoever
 * waits for that work next (the registry's job flushing liveness) waits for ever. The parts that
 * start such work are given `track`; the edge adapters (src/adapters/edge.ts) hand each request's
 * `waitUntil` what `settled()` waits for when it answers.
 */
export class BackgroundWork {
  readonly #pending = new Set<Promise<unknown>>();

  /** Registers `work` until it settles. */
  track(work: Promise<unknown>): void {
    this.#pending.add(work);
    const forget = () => void this.#pending.delete(work);
    work.then(forget, forget);
  }

  /** Resolves once nothing is pending, work registered meanwhile included. */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }
}
