import assert from "node:assert/strict";
import { STATUS_RETRY_MS, StatusFeed, type StatusFeedOptions } from "../../src/status/feed.ts";
import { Problem } from "../../src/region/problem.ts";

/** Reads an SSE body as text, frame by frame (blank-line separated), comments included. */
function frames(response: Response) {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  return {
    /** The next frame (without its blank line); null when the stream ended. */
    async next(): Promise<string | null> {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          return frame;
        }
        const { value, done } = await reader.read();
        if (done) return null;
        buffer += value;
      }
    },
    cancel: () => reader.cancel(),
  };
}

function field(frame: string, name: string): string | undefined {
  return frame.split("\n").find((l) => l.startsWith(`${name}: `))?.slice(name.length + 2);
}

/** A feed over a document `{ n, key }` whose key the test sets. */
type Doc = { n: number; key: string };

function feedOf(options: Partial<StatusFeedOptions<Doc>> = {}) {
  const state = { n: 0, key: "a", fail: false };
  const feed = new StatusFeed<Doc>({
    snapshot: (): Promise<Doc> => {
      if (state.fail) return Promise.reject(new Error("store down"));
      return Promise.resolve({ n: ++state.n, key: state.key });
    },
    changeKey: (doc) => doc.key,
    sampleMs: 10,
    snapshotMs: 60_000,
    ...options,
  });
  return { feed, state };
}

Deno.test("StatusFeed.open() streams retry, then a snapshot at once, then one on each change", async () => {
  const { feed, state } = feedOf();
  const stream = frames(feed.open("a", new AbortController().signal));
  try {
    assert.equal(await stream.next(), `retry: ${STATUS_RETRY_MS}`);
    const first = (await stream.next())!;
    assert.equal(field(first, "event"), "snapshot");
    assert.equal(field(first, "id"), "1");
    assert.deepEqual(JSON.parse(field(first, "data")!), { n: 1, key: "a" });
    await new Promise((r) => setTimeout(r, 100)); // samples go on; nothing changed, nothing sent
    state.key = "b";
    const changed = (await stream.next())!;
    assert.equal(JSON.parse(field(changed, "data")!).key, "b");
    assert.ok(JSON.parse(field(changed, "data")!).n > 2, "unchanged samples were not sent");
  } finally {
    await stream.cancel();
  }
  assert.equal(feed.size, 0);
});

Deno.test("StatusFeed sends a snapshot every snapshotMs even when nothing changed", async () => {
  const { feed } = feedOf({ snapshotMs: 30 });
  const stream = frames(feed.open("a", new AbortController().signal));
  try {
    await stream.next(); // retry
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push(Number(field((await stream.next())!, "id")));
    assert.deepEqual(ids.map((id, i) => id > (ids[i - 1] ?? 0)), [true, true, true]);
  } finally {
    await stream.cancel();
  }
});

Deno.test("StatusFeed sends an unavailable event when the document fails, and keep-alives while quiet", async () => {
  const { feed, state } = feedOf({ keepaliveMs: 40 });
  state.fail = true;
  const stream = frames(feed.open("a", new AbortController().signal));
  try {
    await stream.next(); // retry
    const failed = (await stream.next())!;
    assert.equal(field(failed, "event"), "unavailable");
    assert.deepEqual(JSON.parse(field(failed, "data")!), { detail: "store down" });
    assert.equal(await stream.next(), ": keep-alive");
    state.fail = false;
    assert.equal(field((await stream.next())!, "event"), "snapshot", "recovered: sent at once");
  } finally {
    await stream.cancel();
  }
});

Deno.test("StatusFeed holds at most one waiting frame for a slow reader: newer snapshots replace it", async () => {
  const { feed, state } = feedOf({ snapshotMs: 5, sampleMs: 5 });
  const stream = frames(feed.open("a", new AbortController().signal));
  try {
    await stream.next(); // retry
    const first = Number(field((await stream.next())!, "id"));
    await new Promise((r) => setTimeout(r, 300)); // ~60 snapshots while nobody reads
    // What was held meanwhile: the stream's one queued frame, its one waiting frame, and what
    // the reader's own decoding pipe had pulled; every other snapshot was replaced, not queued.
    const held: number[] = [];
    for (;;) {
      const id = Number(field((await stream.next())!, "id"));
      if (id > first + 20) break;
      held.push(id);
    }
    assert.ok(state.n > first + 20, `the sampler ran meanwhile (${state.n} documents)`);
    assert.ok(held.length <= 4, `at most a few frames were held, got ${held}`);
  } finally {
    await stream.cancel();
  }
});

Deno.test("StatusFeed bounds streams per instance and per address (429 with Retry-After) and frees a slot when a stream ends", async () => {
  const { feed } = feedOf({ streamsMax: 2, perAddressMax: 1 });
  const aborts = [new AbortController(), new AbortController()];
  const a = feed.open("10.0.0.1", aborts[0].signal);
  const refusal = (fn: () => unknown) =>
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof Problem);
      assert.equal(e.status, 429);
      assert.equal(e.headers["retry-after"], "5");
      return true;
    });
  refusal(() => feed.open("10.0.0.1", new AbortController().signal));
  const b = feed.open("10.0.0.2", aborts[1].signal);
  refusal(() => feed.open("10.0.0.3", new AbortController().signal));
  assert.equal(feed.size, 2);
  aborts[0].abort(); // the client went away
  assert.equal(feed.size, 1);
  const c = feed.open("10.0.0.1", new AbortController().signal);
  for (const response of [a, b, c]) await response.body!.cancel();
  assert.equal(feed.size, 0);
  // IPv6 addresses share a slot per /64.
  const v6 = feed.open("2001:db8::1", new AbortController().signal);
  refusal(() => feed.open("2001:db8::2", new AbortController().signal));
  await v6.body!.cancel();
});

Deno.test("StatusFeed.close() ends every stream (as on SIGTERM) and stops sampling", async () => {
  const { feed, state } = feedOf();
  const streams = [1, 2, 3].map((i) =>
    frames(feed.open(`10.0.0.${i}`, new AbortController().signal))
  );
  for (const s of streams) {
    await s.next(); // retry
    await s.next(); // first snapshot
  }
  feed.close();
  for (const s of streams) assert.equal(await s.next(), null);
  assert.equal(feed.size, 0);
  const sampled = state.n;
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(state.n, sampled, "no sampling without streams");
});
