/**
 * A module worker around ChannelWatch (for channel_watch_workerd_runtime_test.ts), over a fake
 * store whose region log `/write` appends to as another instance of the region would (no notify).
 * `/wait?c=&ms=` takes a ticket on channel `c` and waits up to `ms`.
 */
import { ChannelWatch } from "../../src/views/channel_watch.ts";
import { fakeLogStore } from "../support/fake_log_store.ts";

const { store, append } = fakeLogStore();
const watch = new ChannelWatch(store, 50);

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const channel = url.searchParams.get("c") ?? "c";
    if (url.pathname === "/write") {
      append(channel);
      return new Response("written");
    }
    const ticket = await watch.ticket(channel);
    const started = Date.now();
    const woken = await ticket.wait(Number(url.searchParams.get("ms") ?? "0"));
    return Response.json({ woken, tookMs: Date.now() - started });
  },
};
