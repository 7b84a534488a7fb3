/**
 * The clock of the scale simulation: a discrete-event queue over simulated milliseconds. Events
 * run in time order, and events due at the same time in the order they were scheduled, so a run
 * is a function of its seed. A binary heap over parallel arrays (no object per entry), since a
 * run of 1,000,000 agents schedules tens of millions of events.
 */

/** What runs when an event is due. */
export type Action = () => void;

export class EventQueue {
  /** The simulated time, in ms since the start of the run. */
  nowMs = 0;
  #times: number[] = [];
  #seqs: number[] = [];
  #actions: Action[] = [];
  #seq = 0;
  /** Events run so far. */
  ran = 0;

  /** Events waiting. */
  get size(): number {
    return this.#times.length;
  }

  /** Runs `action` at `timeMs` (not before now: an event in the past runs now). */
  at(timeMs: number, action: Action): void {
    const time = Math.max(timeMs, this.nowMs);
    const times = this.#times, seqs = this.#seqs, actions = this.#actions;
    const seq = this.#seq++;
    let i = times.length;
    times.push(time);
    seqs.push(seq);
    actions.push(action);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent] < time || (times[parent] === time && seqs[parent] < seq)) break;
      times[i] = times[parent];
      seqs[i] = seqs[parent];
      actions[i] = actions[parent];
      i = parent;
    }
    times[i] = time;
    seqs[i] = seq;
    actions[i] = action;
  }

  /** Runs `action` `delayMs` from now. */
  after(delayMs: number, action: Action): void {
    this.at(this.nowMs + delayMs, action);
  }

  /**
   * Runs events in order until the queue is empty, the next event is due after `untilMs`, or
   * `stop()` (checked every `checkEvery` events) says so. Returns whether it stopped on `stop`.
   */
  run(untilMs: number, stop: () => boolean = () => false, checkEvery = 4_096): boolean {
    let sinceCheck = 0;
    while (this.#times.length > 0 && this.#times[0] <= untilMs) {
      const action = this.#pop();
      action();
      this.ran++;
      if (++sinceCheck >= checkEvery) {
        sinceCheck = 0;
        if (stop()) return true;
      }
    }
    if (this.#times.length === 0 || this.#times[0] > untilMs) {
      this.nowMs = Math.max(this.nowMs, untilMs);
    }
    return stop();
  }

  #pop(): Action {
    const times = this.#times, seqs = this.#seqs, actions = this.#actions;
    const action = actions[0];
    this.nowMs = times[0];
    const lastTime = times.pop()!, lastSeq = seqs.pop()!, lastAction = actions.pop()!;
    const n = times.length;
    if (n === 0) return action;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      const right = child + 1;
      if (
        right < n &&
        (times[right] < times[child] ||
          (times[right] === times[child] && seqs[right] < seqs[child]))
      ) child = right;
      if (times[child] > lastTime || (times[child] === lastTime && seqs[child] > lastSeq)) break;
      times[i] = times[child];
      seqs[i] = seqs[child];
      actions[i] = actions[child];
      i = child;
    }
    times[i] = lastTime;
    seqs[i] = lastSeq;
    actions[i] = lastAction;
    return action;
  }
}
