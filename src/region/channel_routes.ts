/**
 * Reading a channel: its view (`GET /v1/channels/{c}`), its signed deltas in arrival order
 * (`…/deltas`), and one author's head in it (`…/authors/{a}`). docs/protocol.md §12.2–12.4.
 */
import { type Context, Hono } from "hono";
import { ID_PATTERN } from "../protocol/delta.ts";
import {
  CHANNEL_PATTERN,
  CHANNEL_RULE,
  TAIL_LIMIT_DEFAULT,
  TAIL_LIMIT_MAX,
} from "../protocol/limits.ts";
import { INBOX_CHANNEL_PREFIX } from "../protocol/message_kinds.ts";
import { viewlessReason } from "../views/channel_views.ts";
import { names } from "../telemetry/mod.ts";
import type { RegionDeps } from "./deps.ts";
import { Problem } from "./problem.ts";
import { requestSigner, requireReader, SIGN_HINT } from "./read_guard.ts";
import { ChannelWaits, entityTags, waitParam } from "./channel_wait.ts";
import { integerQuery } from "./query_params.ts";

export function channelRoutes(deps: RegionDeps): Hono {
  const { telemetry, base, store } = deps;
  const app = new Hono();
  const waits = new ChannelWaits(deps);
  app.get("/v1/channels/:channel", async (c) => {
    const channel = channelParam(c.req.param("channel"));
    const viewless = viewlessReason(channel);
    if (viewless !== null) throw new Problem("invalid-request", viewless);
    await requireReader(c, deps, channel);
    const waitMs = waitParam(c);
    const known = entityTags(c.req.header("if-none-match"));
    const read = (woken: boolean) => readView(deps, channel, woken);
    // `*` matches every view: nothing could end the wait early, so it is answered at once.
    const view = await waits.read(
      c,
      channel,
      known.size === 0 || known.has("*") ? 0 : waitMs,
      read,
      (v) => known.has(v.etag) || known.has("*"),
    );
    const headers = { etag: view.etag, "cache-control": "no-cache" };
    if (known.has(view.etag) || known.has("*")) return c.body(null, 304, headers);
    return c.body(view.text, 200, { ...headers, "content-type": "application/json" });
  });

  app.get("/v1/channels/:channel/deltas", async (c) => {
    const channel = channelParam(c.req.param("channel"));
    await requireReader(c, deps, channel);
    const after = integerQuery(c.req.query("after"), "after", 0, Number.MAX_SAFE_INTEGER, 0);
    const limit = integerQuery(
      c.req.query("limit"),
      "limit",
      1,
      TAIL_LIMIT_MAX,
      TAIL_LIMIT_DEFAULT,
    );
    const waitMs = waitParam(c);
    const read = () =>
      telemetry.inSpan(
        names.SPAN_TAIL_READ,
        { ...base, [names.ATTR_CHANNEL]: channel },
        () => store.listArrivals(channel, after, limit),
      );
    const page = await waits.read(c, channel, waitMs, read, (p) => p.deltas.length === 0);
    return c.json({
      deltas: page.deltas.map(({ body, sig }) => ({ body, sig })),
      cursor: String(page.cursor),
      more: page.more,
    });
  });

  app.get("/v1/channels/:channel/authors/:author", async (c) => {
    const author = c.req.param("author");
    if (!ID_PATTERN.test(author)) {
      throw new Problem(
        "invalid-request",
        "author must be a 43-character base64url public key",
      );
    }
    const raw = c.req.param("channel");
    // In a mailbox, a sender may read its own head (to number its next message), and the owner
    // any sender's: each with a request it signs. Nobody else learns who wrote there.
    const channel = raw.startsWith(INBOX_CHANNEL_PREFIX) && CHANNEL_PATTERN.test(raw)
      ? await mailboxHeadReader(c, deps, raw, author)
      : channelParam(raw);
    await requireReader(c, deps, channel);
    const head = await store.getHead(channel, author) ??
      { contiguous: 0, max: 0, count: 0 };
    return c.json({ channel, author, ...head });
  });
  return app;
}

/** The mailbox channel, once the request is signed by its owner or by `author`; else throws. */
async function mailboxHeadReader(
  c: Context,
  deps: RegionDeps,
  channel: string,
  author: string,
): Promise<string> {
  const owner = channel.slice(INBOX_CHANNEL_PREFIX.length);
  const signer = await requestSigner(c, deps);
  if (signer === null) {
    throw new Problem(
      "unauthorized",
      "A head in a mailbox is read with a request its sender or owner signs",
      SIGN_HINT,
    );
  }
  if (signer !== owner && signer !== author) {
    throw new Problem("forbidden", "Only the mailbox's owner or this sender may read this head");
  }
  return channel;
}

/** One read of a channel's view (`woken`: see `ChannelViews.read`), and its entity tag. */
function readView(deps: RegionDeps, channel: string, woken: boolean) {
  const { telemetry, base, views } = deps;
  return telemetry.inSpan(
    names.SPAN_VIEW_READ,
    { ...base, [names.ATTR_CHANNEL]: channel },
    async (span) => {
      const started = performance.now();
      const { state, caughtUp, source } = await views.read(channel, woken);
      const text = state.viewText();
      telemetry.viewReadDuration.record((performance.now() - started) / 1000, base);
      span.setAttributes({
        [names.ATTR_VIEW_DELTAS]: state.size,
        [names.ATTR_VIEW_CATCHUP]: caughtUp,
        [names.ATTR_VIEW_SOURCE]: source,
      });
      // The fold is a function of the deltas in it: the same set is the same view, anywhere.
      return { text, etag: `"${state.fingerprint()}"` };
    },
  );
}

function channelParam(channel: string): string {
  if (!CHANNEL_PATTERN.test(channel)) {
    throw new Problem(
      "invalid-request",
      `Channel name must match ${CHANNEL_RULE}: ${JSON.stringify(channel)}`,
    );
  }
  if (channel.startsWith(INBOX_CHANNEL_PREFIX)) {
    throw new Problem(
      "forbidden",
      "A mailbox is read only by its owner, with a signed GET /v1/agents/{id}/inbox",
    );
  }
  return channel;
}
