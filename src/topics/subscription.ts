/**
 * One subscriber of a subject on this instance: its cursor, the replay it still has to read, and
 * a bounded queue of live events. Replay is read lazily as the subscriber takes events, so a long
 * history never fills memory; live events queue up to `SUBSCRIBER_BUFFER_EVENTS_MAX` /
 * `SUBSCRIBER_BUFFER_BYTES_MAX`, and a subscriber that falls further behind is dropped: its last
 * event says where to resume, and the publishers and other subscribers never wait for it.
 */
import type { TopicCursor } from "./cursor.ts";
import type { Subject } from "./subject.ts";
import { subjectMatches } from "./subject.ts";
import type { TopicEvent } from "./topic_event.ts";

/** Most live events queued for one subscriber before it is dropped. */
export const SUBSCRIBER_BUFFER_EVENTS_MAX = 1_024;
/**
 * How long a live message that overtook its publisher's previous one (seq − 1 not delivered yet,
 * a later one delivered) waits for it before it is delivered anyway, in ms: a publisher's order
 * is kept across the few ms by which concurrent forwarding may reorder, never at the cost of more.
 */
export const REORDER_HOLD_MS = 500;
/** Most bytes of live events (bodies) queued for one subscriber before it is dropped. */
export const SUBSCRIBER_BUFFER_BYTES_MAX = 4_194_304;

/** What `Subscription.next` hands out. */
export type Next =
  | { readonly kind: "event"; readonly event: TopicEvent; readonly cursor: string }
  | { readonly kind: "dropped"; readonly cursor: string }
  | { readonly kind: "closed" }
  /** Nothing to send now (only when `next` was told not to wait). */
  | { readonly kind: "idle" };

export class Subscription {
  readonly subject: Subject;
  readonly cursor: TopicCursor;
  readonly #now: () => number;
  #replay: AsyncIterator<TopicEvent> | null;
  readonly #live: TopicEvent[] = [];
  /** Live events waiting for their publisher's previous message, with when they began to. */
  readonly #held: { event: TopicEvent; sinceMs: number }[] = [];
  /** Ids in `#live`: the hub may offer a message twice (its own store and the region log). */
  readonly #queued = new Set<string>();
  #liveBytes = 0;
  #dropped = false;
  #closed = false;
  #wake: (() => void) | null = null;

  readonly #excluded: () => Promise<ReadonlySet<string>>;
  readonly #visible: (topic: string) => boolean;

  /**
   * `excluded` gives the authors whose messages are no longer delivered (those proven to have
   * equivocated: quarantine is a function of the replicated set, so every region ends alike);
   * `visible` the topics the subscriber may read (members-only topics need a member).
   */
  constructor(
    subject: Subject,
    cursor: TopicCursor,
    now: () => number,
    excluded: () => Promise<ReadonlySet<string>> = () => Promise.resolve(new Set()),
    visible: (topic: string) => boolean = () => true,
  ) {
    this.#visible = visible;
    this.subject = subject;
    this.cursor = cursor;
    this.#replay = null;
    this.#now = now;
    this.#excluded = excluded;
  }

  /** Sets the replay to read before the live events (read after registering with the hub). */
  replayFrom(replay: AsyncIterator<TopicEvent>): void {
    this.#replay = replay;
  }

  /** True once the subscriber fell too far behind; it gets a `dropped` next and nothing more. */
  get dropped(): boolean {
    return this.#dropped;
  }

  /** Offers a live event (the hub calls this for every topic message stored). Never blocks. */
  offer(event: TopicEvent): void {
    if (this.#closed || this.#dropped || !subjectMatches(this.subject, event.topic)) return;
    if (!this.#visible(event.topic)) return;
    if (event.ts < this.cursor.startMs || this.cursor.has(event.key, event.seq)) return;
    if (this.#queued.has(event.id)) return;
    const bytes = event.body.length;
    if (
      this.#live.length >= SUBSCRIBER_BUFFER_EVENTS_MAX ||
      this.#liveBytes + bytes > SUBSCRIBER_BUFFER_BYTES_MAX
    ) {
      this.#dropped = true;
      this.#live.length = 0;
      this.#queued.clear();
      this.#liveBytes = 0;
    } else {
      this.#live.push(event);
      this.#queued.add(event.id);
      this.#liveBytes += bytes;
    }
    this.#wake?.();
  }

  /**
   * The next event to send (replay first, then live), recorded in the cursor; or `dropped`;
   * or, once `close` is called, `closed`. Waits while there is nothing — until `signal`
   * aborts (then `closed`) — unless `wait` is false (then `idle`).
   */
  async next(signal?: AbortSignal, wait = true): Promise<Next> {
    for (;;) {
      if (this.#closed) return { kind: "closed" };
      if (this.#dropped) {
        this.#closed = true;
        return { kind: "dropped", cursor: this.cursor.encode(this.#now()) };
      }
      const event = await this.#take();
      if (event === null) {
        if (!wait) return { kind: "idle" };
        // The signal bounds the wait only: what is there already is handed out first.
        if (signal?.aborted) return { kind: "closed" };
        await this.#waitForLive(signal, this.#holdEndsInMs());
        continue;
      }
      if (event.expires <= this.#now() || this.cursor.has(event.key, event.seq)) continue;
      if ((await this.#excluded()).has(event.author)) continue;
      this.cursor.add(event.key, event.seq, event.expires);
      return { kind: "event", event, cursor: this.cursor.encode(this.#now()) };
    }
  }

  /** The cursor as it stands: what a client resumes from when nothing more is sent. */
  position(): string {
    return this.cursor.encode(this.#now());
  }

  close(): void {
    this.#closed = true;
    this.#live.length = 0;
    this.#queued.clear();
    this.#wake?.();
  }

  async #take(): Promise<TopicEvent | null> {
    if (this.#replay !== null) {
      const step = await this.#replay.next();
      if (!step.done) return step.value;
      this.#replay = null;
    }
    for (;;) {
      const ready = this.#released();
      if (ready !== null) return ready;
      const event = this.#live.shift();
      if (event === undefined) return null;
      this.#queued.delete(event.id);
      this.#liveBytes -= event.body.length;
      if (!this.#overtook(event)) return event;
      this.#held.push({ event, sinceMs: performance.now() });
      if (this.#held.length > SUBSCRIBER_BUFFER_EVENTS_MAX) return this.#held.shift()!.event;
    }
  }

  /** Whether a later message of the event's publisher went out while its previous one did not. */
  #overtook(event: TopicEvent): boolean {
    const max = this.cursor.maxSeq(event.key);
    return max !== null && event.seq > max + 1 && !this.cursor.has(event.key, event.seq - 1);
  }

  /**
   * A held event that may go now — its predecessor went, or it waited REORDER_HOLD_MS — the
   * lowest seq of its publisher first; else null.
   */
  #released(): TopicEvent | null {
    if (this.#held.length === 0) return null;
    const nowMs = performance.now(); // a real-time wait, whatever clock the region is given
    this.#held.sort((a, b) => a.event.seq - b.event.seq);
    const i = this.#held.findIndex(({ event, sinceMs }) =>
      !this.#overtook(event) || nowMs - sinceMs >= REORDER_HOLD_MS
    );
    return i < 0 ? null : this.#held.splice(i, 1)[0].event;
  }

  /** Ms until the first held event may go anyway (null when none is held). */
  #holdEndsInMs(): number | null {
    if (this.#held.length === 0) return null;
    const first = Math.min(...this.#held.map((h) => h.sinceMs));
    return Math.max(1, first + REORDER_HOLD_MS - performance.now());
  }

  #waitForLive(signal?: AbortSignal, timeoutMs: number | null = null): Promise<void> {
    return new Promise((resolve) => {
      const timer = timeoutMs === null ? undefined : setTimeout(() => done(), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#wake = null;
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#wake = done;
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
