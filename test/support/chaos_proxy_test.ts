import assert from "node:assert/strict";
import { ChaosProxy, startChaosProxy } from "./chaos_proxy.ts";

interface Seen {
  readonly method: string;
  readonly path: string;
  readonly search: string;
  readonly headers: Headers;
  readonly body: Uint8Array;
}

/** A tiny upstream that records every request and echoes its body back. */
function startEcho() {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const body = new Uint8Array(await req.arrayBuffer());
    seen.push({
      method: req.method,
      path: url.pathname,
      search: url.search,
      headers: req.headers,
      body,
    });
    if (url.pathname === "/empty") return new Response(null, { status: 204 });
    return new Response(body, {
      status: url.pathname.startsWith("/created") ? 201 : 200,
      headers: { "x-echo-count": String(seen.length), "content-type": "application/octet-stream" },
    });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    seen,
    stop: () => server.shutdown(),
  };
}

/** Runs `body` with an echo server behind a proxy; stops both whatever happens. */
async function withProxy(
  seed: number,
  body: (proxy: ChaosProxy, echo: ReturnType<typeof startEcho>) => Promise<void>,
  reorderWindowMs?: number,
): Promise<void> {
  const echo = startEcho();
  const proxy = startChaosProxy({ target: echo.url, seed, reorderWindowMs });
  try {
    await body(proxy, echo);
  } finally {
    await proxy.stop();
    await echo.stop();
  }
}

async function get(proxy: ChaosProxy, path = "/", init: RequestInit = {}) {
  const response = await fetch(`${proxy.url}${path}`, init);
  return {
    status: response.status,
    chaos: response.headers.get("x-chaos"),
    text: await response.text(),
  };
}

Deno.test("ChaosProxy forwards method, path, query, headers and body bytes and returns the answer", async () => {
  await withProxy(1, async (proxy, echo) => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const response = await fetch(`${proxy.url}/created/a%20b?x=1&y=%2F&x=2`, {
      method: "PUT",
      headers: { "x-region-signature": "sig-1", "content-type": "application/octet-stream" },
      body: bytes,
    });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get("x-echo-count"), "1");
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);
    const [seen] = echo.seen;
    assert.equal(seen.method, "PUT");
    assert.equal(seen.path, "/created/a%20b");
    assert.equal(seen.search, "?x=1&y=%2F&x=2");
    assert.equal(seen.headers.get("x-region-signature"), "sig-1");
    assert.deepEqual(seen.body, bytes);

    const empty = await fetch(`${proxy.url}/empty`, { method: "DELETE" });
    assert.equal(empty.status, 204);
    assert.equal(await empty.text(), "");
    assert.deepEqual(proxy.counters, {
      received: 2,
      forwarded: 2,
      dropped: 0,
      duplicated: 0,
      cut: 0,
      reordered: 0,
      failed: 0,
    });
  });
});

Deno.test("ChaosProxy.set({ delayMs, jitterMs }) delays each request within the jitter", async () => {
  await withProxy(2, async (proxy) => {
    proxy.set({ delayMs: 150 });
    let started = performance.now();
    assert.equal((await get(proxy)).status, 200);
    const delayed = performance.now() - started;
    assert.ok(delayed >= 145 && delayed < 1_000, `took ${delayed} ms`);

    proxy.set({ delayMs: 100, jitterMs: 50 });
    const took: number[] = [];
    for (let i = 0; i < 6; i++) {
      started = performance.now();
      await get(proxy);
      took.push(performance.now() - started);
    }
    for (const ms of took) assert.ok(ms >= 45 && ms < 1_000, `took ${took}`);
    assert.ok(Math.max(...took) - Math.min(...took) > 5, `no jitter in ${took}`);
  });
});

Deno.test("ChaosProxy.set({ answerDelayMs }) holds the answer on its way back, after the upstream saw the request", async () => {
  await withProxy(3, async (proxy, echo) => {
    proxy.set({ delayMs: 100, answerDelayMs: 150 });
    const started = performance.now();
    const answer = get(proxy);
    while (echo.seen.length === 0) await new Promise((r) => setTimeout(r, 5));
    const upstream = performance.now() - started;
    assert.equal((await answer).status, 200);
    const total = performance.now() - started;
    assert.ok(
      upstream >= 95 && upstream < 240,
      `the request reached upstream after ${upstream} ms`,
    );
    assert.ok(total - upstream >= 140, `the answer came ${total - upstream} ms after that`);
  });
});

Deno.test("ChaosProxy.set({ drop }) drops about that share of requests, the same ones per seed", async () => {
  const statuses: number[][] = [];
  for (const run of [0, 1]) {
    await withProxy(7, async (proxy, echo) => {
      proxy.set({ drop: 0.3 });
      const got: number[] = [];
      for (let i = 0; i < 200; i++) {
        const answer = await get(proxy);
        got.push(answer.status);
        if (answer.status === 503) assert.equal(answer.chaos, "drop");
      }
      const dropped = got.filter((s) => s === 503).length;
      assert.ok(dropped >= 40 && dropped <= 80, `run ${run}: dropped ${dropped} of 200`);
      assert.equal(proxy.counters.dropped, dropped);
      assert.equal(proxy.counters.forwarded, 200 - dropped);
      assert.equal(echo.seen.length, 200 - dropped);
      statuses.push(got);
    });
  }
  assert.deepEqual(statuses[0], statuses[1]);
});

Deno.test("ChaosProxy.set({ duplicate }) delivers a request twice and answers once", async () => {
  await withProxy(3, async (proxy, echo) => {
    proxy.set({ duplicate: 1 });
    const answer = await get(proxy, "/once", { method: "POST", body: "hello" });
    assert.equal(answer.status, 200);
    assert.equal(answer.text, "hello");
    assert.equal(echo.seen.length, 2);
    assert.deepEqual(echo.seen.map((s) => new TextDecoder().decode(s.body)), ["hello", "hello"]);
    assert.equal(proxy.counters.forwarded, 1);
    assert.equal(proxy.counters.duplicated, 1);
  });
});

Deno.test("ChaosProxy.set({ cut }) refuses everything at once and forwards nothing", async () => {
  await withProxy(4, async (proxy, echo) => {
    proxy.set({ cut: true, delayMs: 5_000 });
    const started = performance.now();
    for (let i = 0; i < 3; i++) {
      const answer = await get(proxy, "/x", { method: "POST", body: "lost" });
      assert.equal(answer.status, 502);
      assert.equal(answer.chaos, "cut");
    }
    assert.ok(performance.now() - started < 1_000);
    assert.equal(echo.seen.length, 0);
    assert.equal(proxy.counters.cut, 3);
  });
});

Deno.test("ChaosProxy.set({ reorder }) forwards concurrent requests in a shuffled order", async () => {
  await withProxy(5, async (proxy, echo) => {
    proxy.set({ reorder: true });
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < 8; i++) {
      sent.push(get(proxy, `/seq/${i}`));
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const answers = (await Promise.all(sent)) as { status: number }[];
    assert.ok(answers.every((a) => a.status === 200));
    const order = echo.seen.map((s) => Number(s.path.split("/")[2]));
    assert.deepEqual([...order].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.notDeepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(proxy.counters.reordered, 8);
  }, 200);
});

Deno.test("ChaosProxy.set({}) heals every fault", async () => {
  await withProxy(6, async (proxy, echo) => {
    proxy.set({ cut: true, drop: 1, delayMs: 2_000, duplicate: 1, reorder: true });
    assert.equal((await get(proxy)).status, 502);
    proxy.set({});
    assert.deepEqual(proxy.settings, {});
    const started = performance.now();
    for (let i = 0; i < 5; i++) assert.equal((await get(proxy)).status, 200);
    assert.ok(performance.now() - started < 1_000);
    assert.equal(echo.seen.length, 5);
  });
});

Deno.test("ChaosProxy answers 502 when the target does not answer", async () => {
  const echo = startEcho();
  const target = echo.url;
  await echo.stop();
  const proxy = startChaosProxy({ target, seed: 8 });
  try {
    const answer = await get(proxy);
    assert.equal(answer.status, 502);
    assert.equal(answer.chaos, "failed");
    assert.equal(proxy.counters.failed, 1);
  } finally {
    await proxy.stop();
  }
});

Deno.test("ChaosProxy.stop() ends delayed and held requests at once, leaving nothing pending", async () => {
  const echo = startEcho();
  const proxy = startChaosProxy({ target: echo.url, seed: 9, reorderWindowMs: 10_000 });
  try {
    proxy.set({ delayMs: 10_000 });
    const delayed = get(proxy, "/slow");
    await new Promise((resolve) => setTimeout(resolve, 50));
    proxy.set({ reorder: true });
    const held = get(proxy, "/held");
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await proxy.stop();
    assert.ok(performance.now() - started < 1_000);
    for (const answer of [await delayed, await held]) {
      assert.equal(answer.status, 503);
      assert.equal(answer.chaos, "stopped");
    }
    assert.equal(echo.seen.length, 0);
  } finally {
    await proxy.stop();
    await echo.stop();
  }
});

Deno.test("ChaosProxy rejects invalid settings and options naming the field", async () => {
  await withProxy(10, (proxy) => {
    assert.throws(() => proxy.set({ drop: 2 }), /Cannot set chaos as drop is invalid/);
    assert.throws(() => proxy.set({ delayMs: -1 }), /delayMs is invalid/);
    return Promise.resolve();
  });
  assert.throws(
    () => startChaosProxy({ target: "ftp://x" }),
    /Cannot start ChaosProxy as target is invalid/,
  );
});
