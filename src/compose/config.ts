/**
 * A region's configuration, read from the environment and validated in one place. Errors name
 * the variable: `Cannot start region as MESH_REGION is invalid: ...`.
 */
import { z } from "zod";
import { REGION_ID_PATTERN } from "../protocol/limits.ts";
import {
  ADDRESS_PUSH_BURST,
  ADDRESS_PUSH_RATE_PER_S,
  AUTHOR_DELTA_BURST,
  AUTHOR_DELTA_RATE_PER_S,
} from "../guard/rate_limiter.ts";
import { parseCorsOrigins } from "../region/cors.ts";
import { BLOB_BYTES_MAX } from "../protocol/blob_ref.ts";
import {
  ADDRESS_BLOB_BURST_BYTES,
  ADDRESS_BLOB_BYTES_PER_S,
  AUTHOR_BLOB_BURST_BYTES,
  AUTHOR_BLOB_BYTES_PER_S,
} from "../blobs/budget.ts";
import { BLOB_GC_MS_DEFAULT, BLOB_GRACE_MS_DEFAULT } from "../blobs/collector.ts";
import { LOG_LEVEL_DEFAULT, LOG_LEVELS } from "../telemetry/log.ts";

/** Fewest characters a `MESH_METRICS_TOKEN` may have (a bearer token should not be guessable). */
export const METRICS_TOKEN_CHARS_MIN = 16;

/** Default of `MESH_JOB_WINDOW_MS`: most of the minute between two cron triggers, in ms. */
export const JOB_WINDOW_MS_DEFAULT = 50_000;

/** Largest rate or burst the environment may set (beyond it, set no limit you can reach). */
const RATE_LIMIT_MAX = 1e9;
const rate = (fallback: number) =>
  z.coerce.number().positive().max(RATE_LIMIT_MAX).default(fallback);
const burst = (fallback: number) => z.coerce.number().min(1).max(RATE_LIMIT_MAX).default(fallback);
/** A blob byte burst holds at least one whole blob. */
const blobBurst = (fallback: number) =>
  z.coerce.number().min(BLOB_BYTES_MAX, `must hold one blob: ${BLOB_BYTES_MAX} or more`)
    .max(RATE_LIMIT_MAX).default(fallback);

const configSchema = z.strictObject({
  /** Region id, reported by /v1/health. Default `local`. */
  MESH_REGION: z.string().regex(
    REGION_ID_PATTERN,
    "must be lowercase letters, digits and -, 1-32 chars",
  )
    .default("local"),
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  HOST: z.string().min(1).default("127.0.0.1"),
  /** TCP port; 0 picks a free one. Default 8000. */
  PORT: z.coerce.number().int().min(0).max(65_535).default(8000),
  /** Directory of the embedded store's files. Default `./data`. */
  MESH_DATA: z.string().min(1).default("./data"),
  /** Which regional store: `denokv` (embedded, default) or `upstash`. */
  MESH_STORE: z.enum(["denokv", "upstash"]).default("denokv"),
  /** Path of the topology JSON file; unset runs a standalone region (no peers). */
  MESH_TOPOLOGY: z.string().min(1).optional(),
  /** The topology file's text itself, for hosts without files (Workers, Vercel Edge). */
  MESH_TOPOLOGY_JSON: z.string().min(1).optional(),
  /** Path of the mesh's admission JSON file (§19); unset leaves every channel open. */
  MESH_ADMISSION: z.string().min(1).optional(),
  /** The admission file's text itself, for hosts without files (Workers, Vercel Edge). */
  MESH_ADMISSION_JSON: z.string().min(1).optional(),
  /** This region's ed25519 secret seed (base64url); else `<MESH_DATA>/<region>.key.json`. */
  MESH_REGION_KEY: z.string().min(1).optional(),
  /** Heartbeat period between exchanging regions, in ms. Default 250. */
  MESH_HEARTBEAT_MS: z.coerce.number().int().min(50).max(60_000).default(250),
  /** Leader lease length, in ms. Default 3000. */
  MESH_LEASE_TTL_MS: z.coerce.number().int().min(1_000).max(600_000).default(3_000),
  /** Pause between anti-entropy rounds, in ms. Default 2000. */
  MESH_ANTI_ENTROPY_MS: z.coerce.number().int().min(100).max(3_600_000).default(2_000),
  /**
   * Bootstrap by bulk copy (docs/protocol.md §26): `auto` copies from a peer when this region's
   * set is far smaller than the peer's; `off` never (anti-entropy only); a region id copies from
   * that peer once, when no copy is recorded in the store. Default `auto`.
   */
  MESH_BOOTSTRAP: z.string().regex(
    /^(auto|off|[a-z0-9][a-z0-9-]{0,31})$/,
    "must be auto, off or a region id",
  ).default("auto"),
  /** Push requests per second one client address may sustain. Default 1000. */
  MESH_ADDRESS_PUSH_RATE_PER_S: rate(ADDRESS_PUSH_RATE_PER_S),
  /** Push requests one client address may send at once. Default 2000. */
  MESH_ADDRESS_PUSH_BURST: burst(ADDRESS_PUSH_BURST),
  /** Deltas per second one author key may sustain. Default 500. */
  MESH_AUTHOR_DELTA_RATE_PER_S: rate(AUTHOR_DELTA_RATE_PER_S),
  /** Deltas one author key may push at once. Default 5000. */
  MESH_AUTHOR_DELTA_BURST: burst(AUTHOR_DELTA_BURST),
  /** Age of an agent's last-seen delta past which discovery reports it stale, in ms. 10 min. */
  MESH_AGENT_STALE_MS: z.coerce.number().int().min(1_000).max(2_592_000_000).default(600_000),
  /** Age of a blob no live `_blobs` entry references at which it is collected, in ms. 1 hour. */
  MESH_BLOB_GRACE_MS: z.coerce.number().int().min(1_000).max(2_592_000_000).default(
    BLOB_GRACE_MS_DEFAULT,
  ),
  /** Period of the blob collector's job, in ms. Default 60000. */
  MESH_BLOB_GC_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(BLOB_GC_MS_DEFAULT),
  /** Blob upload bytes per second one author key may sustain. Default 1048576 (1 MiB/s). */
  MESH_BLOB_AUTHOR_BYTES_PER_S: rate(AUTHOR_BLOB_BYTES_PER_S),
  /** Blob upload bytes one author key may send at once (≥ 16 MiB). Default 67108864. */
  MESH_BLOB_AUTHOR_BURST_BYTES: blobBurst(AUTHOR_BLOB_BURST_BYTES),
  /** Blob upload bytes per second one client address may sustain. Default 4194304. */
  MESH_BLOB_ADDRESS_BYTES_PER_S: rate(ADDRESS_BLOB_BYTES_PER_S),
  /** Blob upload bytes one client address may send at once (≥ 16 MiB). Default 134217728. */
  MESH_BLOB_ADDRESS_BURST_BYTES: blobBurst(ADDRESS_BLOB_BURST_BYTES),
  /** `true`: charge pushes to the first X-Forwarded-For entry (behind a proxy that sets it). */
  MESH_TRUST_PROXY: z.enum(["true", "false"]).default("false").transform((v) => v === "true"),
  /**
   * Origins whose pages may call the region from a browser (CORS, docs/protocol.md §12.10):
   * comma-separated exact origins (`https://app.example`), or `*` for any. Default none.
   */
  MESH_CORS_ORIGINS: z.string().default("").transform((text, ctx) => {
    try {
      return parseCorsOrigins(text);
    } catch (error) {
      ctx.addIssue({ code: "custom", message: (error as Error).message });
      return z.NEVER;
    }
  }),
  /** Least level of the JSON log lines written: debug, info, warn or error. Default info. */
  MESH_LOG_LEVEL: z.enum(LOG_LEVELS).default(LOG_LEVEL_DEFAULT),
  /**
   * Bearer token of `GET /metrics` (Prometheus text); unset, the route answers 404. At least
   * METRICS_TOKEN_CHARS_MIN characters.
   */
  MESH_METRICS_TOKEN: z.string().min(
    METRICS_TOKEN_CHARS_MIN,
    `must be at least ${METRICS_TOKEN_CHARS_MIN} characters`,
  ).optional(),
  /**
   * On hosts whose jobs run on a cron trigger (Workers, Vercel Edge; docs/deploy.md): how long
   * each trigger runs the jobs on timers, in ms. Default 50000 (a trigger a minute).
   */
  MESH_JOB_WINDOW_MS: z.coerce.number().int().min(100).max(840_000).default(JOB_WINDOW_MS_DEFAULT),
  /**
   * Bearer token of `POST /v1/jobs/tick` (at least 16 characters). Set, requests drive the
   * region's jobs (issue 13): that route runs one round of the due ones, pushes run the due
   * lease, heartbeat and fan-out jobs, and no timers or queues run them (docs/operations.md).
   */
  MESH_JOBS_TOKEN: z.string().min(
    METRICS_TOKEN_CHARS_MIN,
    `must be at least ${METRICS_TOKEN_CHARS_MIN} characters`,
  ).optional(),
  /** Vercel: the bearer token Vercel Cron sends to the jobs route (at least 16 characters). */
  CRON_SECRET: z.string().min(
    METRICS_TOKEN_CHARS_MIN,
    `must be at least ${METRICS_TOKEN_CHARS_MIN} characters`,
  ).optional(),
  /** Set by Deno Deploy; when present the platform's Deno KV is used instead of MESH_DATA. */
  DENO_DEPLOYMENT_ID: z.string().optional(),
  UPSTASH_REDIS_REST_URL: z.url().optional(),
  UPSTASH_REDIS_REST_TOKEN: z.string().min(1).optional(),
});

export type RegionConfig = z.infer<typeof configSchema>;

/** Every environment variable a region reads (Vercel's Build Output lists them: `envVarsInUse`). */
export const REGION_CONFIG_VARIABLES = Object.keys(configSchema.shape) as (keyof RegionConfig)[];
const KEYS = REGION_CONFIG_VARIABLES;

/** Picks the mesh's variables out of `env` and validates them. Throws with the variable's name. */
export function regionConfig(
  env: Record<string, string | undefined>,
): RegionConfig {
  const picked = Object.fromEntries(
    KEYS.filter((k) => env[k] !== undefined && env[k] !== "").map((
      k,
    ) => [k, env[k]]),
  );
  const parsed = configSchema.safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TypeError(
      `Cannot start region as ${issue.path.join(".")} is invalid: ${issue.message}`,
    );
  }
  const config = parsed.data;
  for (const name of ["MESH_TOPOLOGY", "MESH_ADMISSION"] as const) {
    if (config[name] !== undefined && config[`${name}_JSON`] !== undefined) {
      throw new TypeError(
        `Cannot start region as both ${name} and ${name}_JSON are set: set one (a path, or the text)`,
      );
    }
  }
  if (
    config.MESH_STORE === "upstash" &&
    (config.UPSTASH_REDIS_REST_URL === undefined ||
      config.UPSTASH_REDIS_REST_TOKEN === undefined)
  ) {
    throw new TypeError(
      "Cannot start region as MESH_STORE is upstash but UPSTASH_REDIS_REST_URL or UPSTASH_REDIS_REST_TOKEN is not set",
    );
  }
  return config;
}

/** Whether the region runs in a topology (MESH_TOPOLOGY or MESH_TOPOLOGY_JSON is set). */
export function inTopology(config: RegionConfig): boolean {
  return config.MESH_TOPOLOGY !== undefined || config.MESH_TOPOLOGY_JSON !== undefined;
}

/**
 * What `mesh.region.started` logs of the configuration: every setting an operator may want to
 * check, and never a secret (the region key, the Upstash token and the metrics token appear only
 * as whether they are set).
 */
export function configSummary(config: RegionConfig): Record<string, unknown> {
  return {
    host: config.HOST,
    port: config.PORT,
    store: config.MESH_STORE,
    data: config.DENO_DEPLOYMENT_ID === undefined && config.MESH_STORE === "denokv"
      ? config.MESH_DATA
      : undefined,
    upstash_url: config.UPSTASH_REDIS_REST_URL === undefined
      ? undefined
      : new URL(config.UPSTASH_REDIS_REST_URL).origin,
    topology: config.MESH_TOPOLOGY ?? (config.MESH_TOPOLOGY_JSON === undefined ? null : "inline"),
    admission: config.MESH_ADMISSION ??
      (config.MESH_ADMISSION_JSON === undefined ? null : "inline"),
    // Where the region key comes from (a mesh region only): the variable, or the key file.
    region_key: !inTopology(config)
      ? undefined
      : config.MESH_REGION_KEY === undefined
      ? "file"
      : "env",
    heartbeat_ms: config.MESH_HEARTBEAT_MS,
    lease_ttl_ms: config.MESH_LEASE_TTL_MS,
    anti_entropy_ms: config.MESH_ANTI_ENTROPY_MS,
    bootstrap: config.MESH_BOOTSTRAP,
    address_push_rate_per_s: config.MESH_ADDRESS_PUSH_RATE_PER_S,
    address_push_burst: config.MESH_ADDRESS_PUSH_BURST,
    author_delta_rate_per_s: config.MESH_AUTHOR_DELTA_RATE_PER_S,
    author_delta_burst: config.MESH_AUTHOR_DELTA_BURST,
    agent_stale_ms: config.MESH_AGENT_STALE_MS,
    trust_proxy: config.MESH_TRUST_PROXY,
    cors_origins: config.MESH_CORS_ORIGINS,
    log_level: config.MESH_LOG_LEVEL,
    metrics: config.MESH_METRICS_TOKEN !== undefined,
    jobs: config.MESH_JOBS_TOKEN === undefined ? "scheduler" : "requests",
  };
}
