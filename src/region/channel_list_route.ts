/**
 * `GET /v1/channels?prefix=&limit=&cursor=`: the channels this region stores deltas of, in name
 * order, paged with an opaque cursor (docs/protocol.md §12.9). Reads the channel directory that
 * ingest keeps in the store index (`src/views/channel_directory.ts`).
 */
import { type Context, Hono } from "hono";
import { names } from "../telemetry/mod.ts";
import type { RegionDeps } from "./deps.ts";
import {
  CHANNEL_PREFIX_PATTERN,
  CHANNELS_LIMIT_DEFAULT,
  CHANNELS_LIMIT_MAX,
  decodeChannelCursor,
  encodeChannelCursor,
  listChannels,
} from "../views/channel_directory.ts";
import { Problem } from "./problem.ts";
import { privateChannel } from "../guard/read_access.ts";

export function channelListRoute(deps: RegionDeps): Hono {
  const { telemetry, base, store } = deps;
  const app = new Hono();
  app.get("/v1/channels", (c) => {
    const { prefix, limit, after } = listQuery(c);
    return telemetry.inSpan(names.SPAN_CHANNELS_LIST, base, async (span) => {
      const page = await listChannels(store, prefix, after, limit);
      // A private name is not listed (even its name tells something); its members know it.
      const channels = page.channels.filter((e) => !privateChannel(deps.admission, e.channel));
      span.setAttributes({ [names.ATTR_CHANNELS_LISTED]: channels.length });
      const cursor = page.after === null ? null : encodeChannelCursor(page.after);
      return c.json({ channels, cursor });
    });
  });
  return app;
}

/** The checked query; a problem naming the first bad parameter. */
function listQuery(c: Context): { prefix: string; limit: number; after: string | undefined } {
  const once = (name: string): string | undefined => {
    const values = c.req.queries(name) ?? [];
    if (values.length > 1) {
      throw new Problem("invalid-request", `Query parameter ${name} may be given once`);
    }
    return values[0];
  };
  const prefix = once("prefix") ?? "";
  if (!CHANNEL_PREFIX_PATTERN.test(prefix)) {
    throw new Problem(
      "invalid-request",
      "Query parameter prefix must be the start of a channel name: [A-Za-z0-9._:-]{0,64}",
    );
  }
  const rawLimit = once("limit");
  const limit = rawLimit === undefined ? CHANNELS_LIMIT_DEFAULT : Number(
    /^[0-9]{1,4}$/.test(rawLimit) ? rawLimit : NaN,
  );
  if (!(limit >= 1 && limit <= CHANNELS_LIMIT_MAX)) {
    throw new Problem(
      "invalid-request",
      `Query parameter limit must be an integer in 1..${CHANNELS_LIMIT_MAX}`,
    );
  }
  const cursor = once("cursor");
  if (cursor === undefined || cursor === "") return { prefix, limit, after: undefined };
  const after = decodeChannelCursor(cursor, prefix);
  if (after === null) {
    throw new Problem(
      "invalid-request",
      "Query parameter cursor is not a cursor a listing with this prefix returned",
    );
  }
  return { prefix, limit, after };
}
