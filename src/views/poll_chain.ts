/**
 * A chain of poll timers that outlives the request that started it. An instance that holds
 * waiting requests (long-polls, event streams) reads the store every period for what other
 * instances stored; on workerd a timer belongs to the request that set it (the one in its
 * callback too) and never fires once that request has answered, so a chain the first waiting
 * request started would die with it, and every later waiter of the isolate would sleep its whole
 * wait. Here each waiting request keeps the chain alive from a timer of its own (`keepAlive`):
 * a chain that showed no life for `POLL_STALL_PERIODS` periods is started again, in the context
 * of a request still waiting. On Deno and Node the first chain simply runs on.
 */

/**
 * Poll periods a chain may show no life before a waiting request starts it again; also how often
 * each waiting request checks. A poll under way is given this many times longer (a slow store is
 * not a dead chain).
 */
export const POLL_STALL_PERIODS = 10;

export class PollChain {
  readonly #periodMs: number;
  readonly #step: () => Promise<boolean>;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** Which chain of timers is the live one (a replaced chain stops at its next step). */
  #chain = 0;
  /** When (performance.now()) the live chain last showed life: scheduled, fired, polled. */
  #beatMs = 0;
  /** The live chain is running its step. */
  #stepping = false;

  /**
   * `step` runs every `periodMs` while the chain lives: it polls and answers true to go on, or
   * answers false (nobody waits any more) to end the chain. A step that throws goes on.
   */
  constructor(periodMs: number, step: () => Promise<boolean>) {
    this.#periodMs = periodMs;
    this.#step = step;
  }

  /** Starts the chain unless a live one runs. */
  ensure(): void {
    const stallMs = this.#periodMs * POLL_STALL_PERIODS *
      (this.#stepping ? POLL_STALL_PERIODS : 1);
    if (this.#timer !== null && performance.now() - this.#beatMs < stallMs) return;
    // A chain replaced is not cleared (its timer may be another request's): it stops by itself.
    const chain = ++this.#chain;
    this.#beatMs = performance.now();
    this.#stepping = false;
    this.#timer = setTimeout(async () => {
      if (chain !== this.#chain) return;
      this.#beatMs = performance.now();
      this.#stepping = true;
      const more = await this.#step().catch(() => true); // the store is down: next time
      if (chain !== this.#chain) return; // replaced while it stepped
      this.#stepping = false;
      this.#timer = null;
      if (more) this.ensure();
    }, this.#periodMs);
  }

  /**
   * Called by a request as it starts to wait: from a timer of that request, the chain is started
   * again whenever it died. Returns the function that ends this request's part (call it when the
   * request stops waiting).
   */
  keepAlive(): () => void {
    this.ensure();
    const alive = setInterval(() => this.ensure(), this.#periodMs * POLL_STALL_PERIODS);
    return () => clearInterval(alive);
  }
}
