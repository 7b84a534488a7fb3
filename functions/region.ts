/**
 * Edge entrypoint of a region: a Hono app as the default export, for `deno serve`, Deno Deploy
 * or any runtime that takes `{ fetch }`. Configured from the environment (see README).
 */
import { regionConfig } from "../src/region/config.ts";
import { openRegion } from "../src/region/open_region.ts";

const region = await openRegion(regionConfig(Deno.env.toObject()));

export default region.app;
