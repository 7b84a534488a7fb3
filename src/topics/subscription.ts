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
        await this.#waitForLive(signal);
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
    const event = this.#live.shift();
    if (event === undefined) return null;
    this.#queued.delete(event.id);
    this.#liveBytes -= event.body.length;
    return event;
  }

  #waitForLive(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#wake = null;
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#wake = done;
      signal?.addEventListener("abort", done, { once: true });
    });
  }
}
