/**
 * Replay: the retained messages of every topic a subject matches that a cursor has not
 * delivered, read from the store in each topic's arrival order, from the topic's low-water mark
 * (`retained_scan.ts`), so a replay reads the retention window, not the topic's whole history.
 */
import type { RegionStore } from "../store/region_store.ts";
import { listChannels } from "../views/channel_directory.ts";
import {
  arrivalMarksOf,
  DeadPrefix,
  moveLowWater,
  readLowWater,
  retainedArrivals,
} from "../region/retained_scan.ts";
import { TOPIC_CHANNEL_PREFIX } from "../protocol/message_kinds.ts";
import type { TopicCursor } from "./cursor.ts";
import { type Subject, subjectMatches } from "./subject.ts";
import { type TopicEvent, topicEventOf } from "./topic_event.ts";

/** Most topics one subscription replays (a wildcard over more replays the first ones). */
export const REPLAY_TOPICS_MAX = 1_000;
/**
 * Most topic names a wildcard's replay examines in the directory, matching or not: a subject that
 * matches little must not read every topic of the region. Past it, matching topics are live only.
 */
export const REPLAY_NAMES_EXAMINED_MAX = 2 * REPLAY_TOPICS_MAX;
/** The channels of the topics `subject` matches, in name order (at most REPLAY_TOPICS_MAX). */
export async function matchingChannels(store: RegionStore, subject: Subject): Promise<string[]> {
  if (subject.literal) return [subject.channelPrefix];
  const found: string[] = [];
  let after: string | undefined;
  let examined = 0;
  while (found.length < REPLAY_TOPICS_MAX && examined < REPLAY_NAMES_EXAMINED_MAX) {
    const page = await listChannels(store, subject.channelPrefix, after, 1_000);
    examined += page.channels.length;
    for (const { channel } of page.channels) {
      const topic = channel.slice(TOPIC_CHANNEL_PREFIX.length);
      if (channel.startsWith(TOPIC_CHANNEL_PREFIX) && subjectMatches(subject, topic)) {
        found.push(channel);
      }
    }
    if (page.after === null) break;
    after = page.after;
  }
  return found.slice(0, REPLAY_TOPICS_MAX);
}

/** Events a replay puts back in their publishers' order at a time (arrival order otherwise). */
export const REPLAY_ORDER_WINDOW = 256;

/**
 * A window of one topic's events with each publisher's in seq order: the slots its events hold in
 * arrival order are kept, and refilled with them sorted (others' events do not move). A region
 * that received a publisher's messages out of order (after a partition) replays them in order.
 */
function inPublisherOrder(batch: readonly TopicEvent[]): TopicEvent[] {
  const byKey = new Map<string, TopicEvent[]>();
  for (const event of batch) {
    const list = byKey.get(event.key);
    if (list === undefined) byKey.set(event.key, [event]);
    else list.push(event);
  }
  for (const list of byKey.values()) list.sort((a, b) => a.seq - b.seq);
  const next = new Map<string, number>();
  return batch.map((event) => {
    const i = next.get(event.key) ?? 0;
    next.set(event.key, i + 1);
    return byKey.get(event.key)![i];
  });
}

/**
 * The events of `channels` the cursor may still deliver (unexpired at `now()`, `ts` at or after
 * the cursor's start, not delivered), lazily, one topic after the other in arrival order.
 */
export async function* replay(
  store: RegionStore,
  channels: readonly string[],
  cursor: TopicCursor,
  now: () => number,
): AsyncGenerator<TopicEvent> {
  for (const channel of channels) {
    const low = await readLowWater(store, channel);
    const dead = new DeadPrefix(low.arrival);
    // Start after the mark of a minute before the subscription's start, when that is later.
    const mark = await arrivalMarksOf(store).before(channel, cursor.startMs);
    let batch: TopicEvent[] = [];
    for await (const delta of retainedArrivals(store, channel, Math.max(low.arrival, mark))) {
      const event = topicEventOf(delta);
      const expired = event === null || event.expires <= now();
      dead.note(delta.arrival, expired);
      if (event === null || expired) continue;
      if (event.ts < cursor.startMs || cursor.has(event.key, event.seq)) continue;
      batch.push(event);
      if (batch.length >= REPLAY_ORDER_WINDOW) yield* inPublisherOrder(batch), batch = [];
    }
    yield* inPublisherOrder(batch);
    await moveLowWater(store, channel, low, dead.upTo);
  }
}
