import assert from "node:assert/strict";
import { TcpDelayProxy } from "./delay_proxy.ts";

/** An HTTP server that answers each request with its method, path and body. */
function startEcho() {
  const controller = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: controller.signal, onListen() {} },
    async (request) =>
      new Response(`${request.method} ${new URL(request.url).pathname} ${await request.text()}`),
  );
  return { port: server.addr.port, stop: async () => (controller.abort(), await server.finished) };
}

Deno.test("TcpDelayProxy relays HTTP both ways, each way held for its delay", async () => {
  const echo = startEcho();
  const proxy = new TcpDelayProxy(echo.port, 40);
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
  try {
    const body = "x".repeat(200_000); // several chunks, kept in order
    const started = performance.now();
    const response = await fetch(`http://127.0.0.1:${proxy.port}/path`, {
      method: "POST",
      body,
      client,
    });
    const text = await response.text();
    const elapsed = performance.now() - started;
    assert.equal(text, `POST /path ${body}`);
    // The request's bytes wait 40 ms on the way in and the answer's 40 ms on the way out (the
    // connection's handshake is not delayed: the proxy accepts it itself).
    assert.ok(elapsed >= 80, `answered after ${elapsed.toFixed(1)} ms`);
    proxy.delayMs = 0;
    const again = await fetch(`http://127.0.0.1:${proxy.port}/again`, { client });
    assert.equal(await again.text(), "GET /again ");
  } finally {
    client.close();
    proxy.stop();
    await echo.stop();
  }
});
