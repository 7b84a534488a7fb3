/**
 * The topic routes (docs/protocol.md §22): publish (`POST /v1/topics/{topic}`), subscribe as
 * Server-Sent Events (`GET /v1/topics/{subject}/events`) or long-poll
 * (`GET /v1/topics/{subject}/messages`). Mounted on the region app through `RegionOptions.routes`.
 */
import { type Context, Hono } from "hono";
import {
  isTopic,
  TOPIC_CHANNEL_PREFIX,
  TOPIC_RULE,
  TOPIC_TTL_MS_MAX,
  topicChannel,
} from "../protocol/message_kinds.ts";
import type { Delta } from "../protocol/delta.ts";
import { allowOnly } from "../region/app.ts";
import type { RegionDeps } from "../region/deps.ts";
import { Problem, refuseFull, refuseSlot } from "../region/problem.ts";
import { LONG_POLL_WAIT_S_MAX } from "../protocol/limits.ts";
import { integerQuery } from "../region/query_params.ts";
import { readerOfRequest, refuseUnreadable } from "../region/read_guard.ts";
import { pushHandler } from "../region/push_route.ts";
import { names } from "../telemetry/mod.ts";
import { quarantineOf } from "../guard/quarantine.ts";
import { membersOnly } from "../guard/read_access.ts";
import { AddressSlots } from "../guard/address_slots.ts";
import { TopicCursor } from "./cursor.ts";
import type { TopicHub } from "./hub.ts";
import { matchingChannels, replay } from "./replay.ts";
import { sseResponse } from "./sse.ts";
import { parseSubject, type Subject } from "./subject.ts";
import { Subscription } from "./subscription.ts";
import { eventJson } from "./topic_event.ts";
import type { TopicMessageJson } from "../protocol/message_wire.ts";

/** How far before the request a new subscription starts, in ms (publishers' clocks may lag). */
export const TOPIC_START_SLACK_MS = 5_000;
/** Most subscribers (SSE streams and waiting long-polls) one instance holds. */
export const TOPIC_SUBSCRIBERS_MAX = 10_000;
/** Most subscribers one client address may hold on one instance at once. */
export const TOPIC_SUBSCRIBERS_PER_ADDRESS_MAX = 64;
/** Most messages one long-poll answer carries (`limit` at most). */
export const LONG_POLL_LIMIT_MAX = 256;
/** Default `limit` of a long-poll. */
export const LONG_POLL_LIMIT_DEFAULT = 100;

const ROUTES: [string, string][] = [
  ["/v1/topics/:topic", "POST"],
  ["/v1/topics/:subject/events", "GET"],
  ["/v1/topics/:subject/messages", "GET"],
];

/** The topic routes over `hub`, as a region route group. */
export function topicRoutes(hub: TopicHub): (deps: RegionDeps) => Hono {
  return (deps) => {
    const app = new Hono();
    const slots = new AddressSlots(TOPIC_SUBSCRIBERS_PER_ADDRESS_MAX);
    const claim = (c: Context) =>
      slots.claim(deps.clientAddress(c)) ??
        refuseSlot("subscriptions", TOPIC_SUBSCRIBERS_PER_ADDRESS_MAX);
    app.post(
      "/v1/topics/:topic",
      (c, next) => {
        topicParam(c.req.param("topic") ?? ""); // a bad path costs nothing and reads nothing
        return next();
      },
      pushHandler(deps, "messages", (delta: Delta, c: Context) => {
        const topic = topicParam(c.req.param("topic") ?? "");
        if (delta.kind === "topic" && delta.channel === topicChannel(topic)) return null;
        return `this route takes topic messages of topic ${topic}`;
      }),
    );
    app.get("/v1/topics/:subject/events", async (c) => {
      const release = claim(c);
      const subscription = await subscribe(deps, hub, c).catch((error) => {
        release();
        throw error;
      });
      const attrs = { ...deps.base, [names.ATTR_TOPIC_SUBJECT]: subscription.subject.pattern };
      deps.telemetry.topicSubscribers.add(1, attrs);
      const alive = hub.keepAlive(); // while the stream is open, from this request
      return sseResponse(subscription, c.req.raw.signal, {
        onEnd: (why) => {
          alive();
          release();
          hub.remove(subscription);
          deps.telemetry.topicSubscribers.add(-1, attrs);
          if (why === "dropped") deps.telemetry.topicDropped.add(1, attrs);
        },
        onEvent: () => deps.telemetry.topicDelivered.add(1, attrs),
      });
    });
    app.get("/v1/topics/:subject/messages", async (c) => {
      const limit = integerQuery(
        c.req.query("limit"),
        "limit",
        1,
        LONG_POLL_LIMIT_MAX,
        LONG_POLL_LIMIT_DEFAULT,
      );
      const wait = integerQuery(c.req.query("wait"), "wait", 0, LONG_POLL_WAIT_S_MAX, 0);
      const release = claim(c);
      try {
        const subscription = await subscribe(deps, hub, c);
        const alive = hub.keepAlive();
        try {
          return c.json(await collect(subscription, limit, wait * 1000, c.req.raw.signal));
        } finally {
          alive();
          hub.remove(subscription);
        }
      } finally {
        release();
      }
    });
    for (const [path, allow] of ROUTES) allowOnly(app, path, allow);
    return app;
  };
}

/** Up to `limit` events, waiting at most `waitMs` for the first one. */
async function collect(
  subscription: Subscription,
  limit: number,
  waitMs: number,
  signal: AbortSignal,
) {
  const messages: TopicMessageJson[] = [];
  let cursor = subscription.position();
  // The request's end or the wait, whichever comes first (by hand: `AbortSignal.any` is missing
  // from Vercel's edge runtime).
  const deadline = new AbortController();
  const stop = () => deadline.abort();
  const timer = setTimeout(stop, Math.max(1, waitMs));
  signal.addEventListener("abort", stop, { once: true });
  if (signal.aborted) stop();
  try {
    while (messages.length < limit) {
      // Once something is in hand, only what is already there is taken.
      const next = await subscription.next(deadline.signal, messages.length === 0);
      if (next.kind !== "event") break;
      messages.push(eventJson(next.event));
      cursor = next.cursor;
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", stop);
  }
  return { messages, cursor };
}

/** A subscription of the request's subject from its cursor, registered with the hub, replaying. */
async function subscribe(deps: RegionDeps, hub: TopicHub, c: Context): Promise<Subscription> {
  const subject = subjectParam(c.req.param("subject") ?? "");
  // A named members-only topic refuses outright; a wildcard shows only what the signer may read.
  const publicTopic = subject.literal && !membersOnly(deps.admission, subject.pattern);
  const may = publicTopic ? () => true : await readerOfRequest(c, deps);
  if (subject.literal) refuseUnreadable(c, may, subject.channelPrefix);
  const visible = (topic: string) => may(topic);
  const cursor = cursorOf(c, deps.now());
  if (hub.size >= TOPIC_SUBSCRIBERS_MAX) refuseFull("subscribers");
  const quarantine = quarantineOf(deps.store);
  const subscription = new Subscription(
    subject,
    cursor,
    deps.now,
    () => quarantine.authors(deps.now()),
    visible,
  );
  await hub.add(subscription); // first, so that nothing stored during the replay is missed
  try {
    const channels = (await matchingChannels(deps.store, subject))
      .filter((channel) => visible(channel.slice(TOPIC_CHANNEL_PREFIX.length)));
    subscription.replayFrom(replay(deps.store, channels, cursor, deps.now));
  } catch (error) {
    hub.remove(subscription);
    throw error;
  }
  return subscription;
}

/** The cursor to resume from (`Last-Event-ID`, else `cursor`), or a fresh one from `since`. */
function cursorOf(c: Context, nowMs: number): TopicCursor {
  const header = c.req.header("last-event-id");
  const text = header !== undefined && header !== "" ? header : c.req.query("cursor");
  if (text !== undefined && text !== "") {
    const cursor = TopicCursor.decode(text);
    if (cursor === null) {
      throw new Problem(
        "invalid-request",
        "Last-Event-ID / cursor is not a cursor this mesh issued",
      );
    }
    return cursor;
  }
  const since = integerQuery(
    c.req.query("since"),
    "since",
    0,
    Number.MAX_SAFE_INTEGER,
    nowMs - TOPIC_START_SLACK_MS,
  );
  return TopicCursor.fresh(Math.max(since, nowMs - TOPIC_TTL_MS_MAX));
}

function topicParam(topic: string): string {
  if (!isTopic(topic)) throw new Problem("invalid-request", `Topic must be ${TOPIC_RULE}`);
  return topic;
}

function subjectParam(pattern: string): Subject {
  const subject = parseSubject(pattern);
  if (subject === null) {
    throw new Problem(
      "invalid-request",
      `Subject must be ${TOPIC_RULE}, where a token may be * and the last one >`,
    );
  }
  return subject;
}
