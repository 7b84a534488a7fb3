/**
 * Cloudflare Workers entrypoint (workerd): `deno task build` bundles it into dist/workerd.js,
 * which deploy/cloudflare/wrangler.toml deploys. Upstash is the store; a Cron Trigger runs the
 * jobs (docs/deploy.md).
 */
import { workerdRegion } from "../src/adapters/workerd.ts";
import { scheduleRegionJobs } from "../workers/region_jobs.ts";

export default workerdRegion(scheduleRegionJobs);
