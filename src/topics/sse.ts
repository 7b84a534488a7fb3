/**
 * A subscription as a Server-Sent Events response (docs/protocol.md §22.4): a `ready` event
 * with the starting cursor, then one `message` event per topic message with the cursor as `id:`,
 * a comment every `SSE_KEEPALIVE_MS` so proxies keep the connection, and, for a subscriber that
 * fell behind, a final `dropped` event whose `id:` is where to resume.
 */
import { eventJson, type TopicEvent } from "./topic_event.ts";
import type { Subscription } from "./subscription.ts";

/** Pause between keep-alive comments on a quiet stream, in ms. */
export const SSE_KEEPALIVE_MS = 15_000;
/** What an EventSource waits before reconnecting (the `retry:` field), in ms. */
export const SSE_RETRY_MS = 1_000;

export interface SseHooks {
  /** Called once when the stream ends (client gone, dropped, or closed). */
  readonly onEnd: (why: "closed" | "dropped") => void;
  /** Called with each message event sent. */
  readonly onEvent?: () => void;
}

const encoder = new TextEncoder();

function frame(event: string, id: string, dataJson: string): Uint8Array {
  return encoder.encode(`id: ${id}\nevent: ${event}\ndata: ${dataJson}\n\n`);
}

/** The `data:` JSON of an event, serialised once however many subscribers get it. */
const serialised = new WeakMap<TopicEvent, string>();
function dataOf(event: TopicEvent): string {
  let text = serialised.get(event);
  if (text === undefined) serialised.set(event, text = JSON.stringify(eventJson(event)));
  return text;
}

/** The SSE response streaming `subscription` until `signal` aborts or the subscriber drops. */
export function sseResponse(
  subscription: Subscription,
  signal: AbortSignal,
  hooks: SseHooks,
): Response {
  const stop = new AbortController();
  const abort = () => stop.abort();
  signal.addEventListener("abort", abort, { once: true });
  let ended = false;
  const end = (why: "closed" | "dropped") => {
    if (ended) return;
    ended = true;
    signal.removeEventListener("abort", abort);
    hooks.onEnd(why);
  };
  let started = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!started) {
        started = true;
        controller.enqueue(encoder.encode(`retry: ${SSE_RETRY_MS}\n\n`));
        controller.enqueue(frame("ready", subscription.position(), "{}"));
        return;
      }
      const keepalive = setInterval(() => {
        try {
          controller.enqueue(encoder.encode(": keep-alive\n\n"));
        } catch { /* closed meanwhile */ }
      }, SSE_KEEPALIVE_MS);
      let next;
      try {
        next = await subscription.next(stop.signal);
      } catch {
        // The store failed mid-replay: end the stream (the client resumes from its last id).
        controller.close();
        end("closed");
        return;
      } finally {
        clearInterval(keepalive);
      }
      if (next.kind === "event") {
        controller.enqueue(frame("message", next.cursor, dataOf(next.event)));
        hooks.onEvent?.();
      } else if (next.kind === "dropped") {
        const data = JSON.stringify({ reason: "slow_subscriber", cursor: next.cursor });
        controller.enqueue(frame("dropped", next.cursor, data));
        controller.close();
        end("dropped");
      } else {
        controller.close();
        end("closed");
      }
    },
    cancel() {
      stop.abort();
      end("closed");
    },
  }, { highWaterMark: 0 });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}
