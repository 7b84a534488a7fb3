/**
 * Vercel Edge entrypoint: `deno task build` bundles it into dist/vercel.js and the Build Output
 * directory dist/vercel/.vercel/output (deployed with `vercel deploy --prebuilt`). Upstash is the
 * store; Vercel Cron calls GET /api/cron to run the jobs (docs/deploy.md).
 */
import { vercelEdgeRegion } from "../src/adapters/vercel_edge.ts";
import { scheduleRegionJobs } from "../workers/region_jobs.ts";

export default vercelEdgeRegion(scheduleRegionJobs);
