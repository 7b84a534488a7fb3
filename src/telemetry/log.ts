/**
 * Structured logs: one JSON object per line and event, `{"ts","level","event",...fields}`, with
 * `trace_id` and `span_id` when written inside a span. Event names are declared like spans and
 * metrics (names.ts, docs/telemetry/registry.yaml). Lines go to the console (`debug`/`info` on
 * stdout, `warn`/`error` on stderr), which every runtime has; Deno's built-in OpenTelemetry
 * (`OTEL_DENO=true`) also exports them as log records.
 *
 * The level and the sink are one per process (`configureLog`, from `MESH_LOG_LEVEL`); loggers
 * carry their own fields (`log.with({ region })`), so regions sharing a process log apart.
 */
import { context, trace } from "@opentelemetry/api";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = typeof LOG_LEVELS[number];
/** Default level of `MESH_LOG_LEVEL`. */
export const LOG_LEVEL_DEFAULT: LogLevel = "info";
/** Longest string a field keeps, in UTF-16 units (an error's message, a path): lines stay short. */
export const LOG_FIELD_CHARS_MAX = 2_000;

export type LogFields = Record<string, unknown>;

/** Receives each line that passes the level, with its level (the default writes the console). */
export type LogSink = (line: string, level: LogLevel) => void;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** Whether a line of `level` would be written (to skip building costly fields). */
  enabled(level: LogLevel): boolean;
  /** A logger adding `fields` to every line (later fields win). */
  with(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export const consoleSink: LogSink = (line, level) => {
  if (RANK[level] >= RANK.warn) console.error(line);
  else console.log(line);
};

let settings: { level: LogLevel; sink: LogSink; now: () => number } = {
  level: LOG_LEVEL_DEFAULT,
  sink: consoleSink,
  now: Date.now,
};

/**
 * Sets the process's log level, sink and clock (each optional); returns the previous settings,
 * so a test that captures lines can put them back.
 */
export function configureLog(
  options: { level?: LogLevel; sink?: LogSink; now?: () => number },
): typeof settings {
  const previous = settings;
  settings = { ...settings, ...options };
  return previous;
}

/** A value as it goes into a line: errors as their message, long strings cut, bigints as text. */
function fieldValue(value: unknown): unknown {
  if (value instanceof Error) return fieldValue(value.message);
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string" && value.length > LOG_FIELD_CHARS_MAX) {
    return `${value.slice(0, LOG_FIELD_CHARS_MAX)}…`;
  }
  return value;
}

function write(level: LogLevel, event: string, base: LogFields, fields: LogFields = {}): void {
  if (RANK[level] < RANK[settings.level]) return;
  const line: LogFields = { ts: new Date(settings.now()).toISOString(), level, event };
  for (const [key, value] of Object.entries({ ...base, ...fields })) {
    if (value === undefined) continue;
    line[key] = fieldValue(value);
    // An error also says what kind it was.
    if (value instanceof Error && line.error_type === undefined) {
      line.error_type = value.name;
      // An error-level line is a bug or an outage: where it came from is worth its length.
      if (level === "error" && value.stack !== undefined) {
        line.error_stack = fieldValue(value.stack);
      }
    }
  }
  const span = trace.getSpanContext(context.active());
  if (span !== undefined && trace.isSpanContextValid(span)) {
    line.trace_id = span.traceId;
    line.span_id = span.spanId;
  }
  let text: string;
  try {
    text = JSON.stringify(line);
  } catch {
    text = JSON.stringify({ ts: line.ts, level, event, note: "fields could not be serialised" });
  }
  settings.sink(text, level);
}

function logger(base: LogFields): Logger {
  return {
    debug: (event, fields) => write("debug", event, base, fields),
    info: (event, fields) => write("info", event, base, fields),
    warn: (event, fields) => write("warn", event, base, fields),
    error: (event, fields) => write("error", event, base, fields),
    enabled: (level) => RANK[level] >= RANK[settings.level],
    with: (fields) => logger({ ...base, ...fields }),
  };
}

/** The process's root logger. */
export const log: Logger = logger({});

/** Least time between two lines of one repeating event (per key), in ms. */
export const LOG_REPEAT_MS = 10_000;
/** Most keys one `LogThrottle` tracks (the oldest is forgotten first). */
export const LOG_THROTTLE_KEYS_MAX = 1_024;

/**
 * Keeps a repeating event (a store that fails on every request, a job that fails on every tick)
 * to one line per key per LOG_REPEAT_MS, counting the lines it held back.
 */
export class LogThrottle {
  readonly #keys = new Map<string, { atMs: number; suppressed: number }>();

  /**
   * Whether a line for `key` may be written at `nowMs`: the number of lines held back since the
   * last one written (0 the first time), or null when this one is held back (and counted).
   */
  pass(key: string, nowMs: number): number | null {
    const entry = this.#keys.get(key);
    if (entry !== undefined && nowMs - entry.atMs < LOG_REPEAT_MS) {
      entry.suppressed++;
      return null;
    }
    this.#keys.delete(key);
    this.#keys.set(key, { atMs: nowMs, suppressed: 0 });
    for (const oldest of this.#keys.keys()) {
      if (this.#keys.size <= LOG_THROTTLE_KEYS_MAX) break;
      this.#keys.delete(oldest);
    }
    return entry?.suppressed ?? 0;
  }
}
