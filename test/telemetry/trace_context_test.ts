/**
 * W3C trace context across regions, in one process: an agent's push and its fan-out into every
 * other region are one trace, whether the delta leaves by eager forwarding or by a later drain of
 * the region log; the header codec; and log lines inside a span carry its ids.
 */
import assert from "node:assert/strict";
import { MeshClient } from "../../src/client/mesh_client.ts";
import { newTraceparent, traceparentFor } from "../../src/client/trace_context.ts";
import { TimerScheduler } from "../../src/mesh/scheduler.ts";
import { configureLog, log } from "../../src/telemetry/log.ts";
import { createTelemetry, names } from "../../src/telemetry/mod.ts";
import {
  formatTraceparent,
  parseTraceparent,
  TRACE_MARKS_MAX,
  TraceMarks,
} from "../../src/telemetry/trace_context.ts";
import { InProcessMesh } from "../support/in_process_mesh.ts";
import { collectTelemetry, type SpanRecord } from "../support/telemetry_registry.ts";
import { testAgent } from "../support/signing.ts";

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

/** Pushes one delta to eu-1 through the SDK with TRACEPARENT, then lets the mesh fan it out. */
async function pushTraced(forwardEagerly: boolean): Promise<SpanRecord[]> {
  const emitted = await collectTelemetry(async () => {
    const mesh = new InProcessMesh(LAYOUT, { forwardEagerly });
    for (let i = 0; i < 8; i++) await mesh.tick();
    const app = mesh.region("eu-1").app;
    const client = new MeshClient("http://eu-1.mesh.test", {
      fetch: (input, init) => Promise.resolve(app.request(new URL(String(input)).pathname, init)),
    });
    const agent = testAgent(() => mesh.nowMs);
    const result = await agent.push(client, "c", [{ op: "set", key: "k", value: 1 }], {
      traceparent: TRACEPARENT,
    });
    assert.equal(result.status, "accepted");
    // Ticks (no anti-entropy) until us-1 has it: under load a drain may need more than a few.
    for (let i = 0; i < 40 && !/"k":1/.test(await mesh.view("us-1", "c")); i++) await mesh.tick();
    assert.match(await mesh.view("us-1", "c"), /"k":1/);
  });
  assert.deepEqual(emitted.undeclared, []);
  return emitted.spanRecords;
}

function ingestOf(spans: SpanRecord[], region: string): SpanRecord | undefined {
  return spans.find((s) =>
    s.name === names.SPAN_PEER_DELTAS && s.attributes[names.ATTR_REGION] === region &&
    s.attributes[names.ATTR_PUSH_ACCEPTED] === 1
  );
}

Deno.test("an agent's push and its eager fan-out into every other region are one trace", async () => {
  const spans = await pushTraced(true);
  const push = spans.find((s) => s.name === names.SPAN_PUSH)!;
  assert.equal(push.traceId, TRACE_ID, "the region continues the agent's trace");
  assert.equal(push.parentSpanId, "00f067aa0ba902b7");
  for (const region of ["eu-2", "us-1"]) {
    assert.equal(ingestOf(spans, region)?.traceId, TRACE_ID, `${region} ingests in the trace`);
  }
  const send = spans.find((s) => s.name === names.SPAN_FANOUT_SEND && s.traceId === TRACE_ID);
  assert.ok(send !== undefined, "the fan-out send is in the trace");
});

Deno.test("a delta that leaves by a drain of the region log still continues its push's trace", async () => {
  const spans = await pushTraced(false);
  for (const region of ["eu-2", "us-1"]) {
    assert.equal(ingestOf(spans, region)?.traceId, TRACE_ID, `${region} ingests in the trace`);
  }
  // The send is filed under the push's trace and linked to the drain that made it.
  const send = spans.find((s) => s.name === names.SPAN_FANOUT_SEND && s.traceId === TRACE_ID)!;
  const drain = spans.find((s) =>
    s.name === names.SPAN_FANOUT && s.spanId === send.links[0]?.spanId
  );
  assert.ok(drain !== undefined && drain.traceId !== TRACE_ID, "linked to its drain");
});

Deno.test("TimerScheduler: each tick is a trace of its own, and the job's spans nest under it", async () => {
  const spans = (await collectTelemetry(async () => {
    const telemetry = createTelemetry();
    const scheduler = new TimerScheduler({ telemetry });
    scheduler.every("beat", 5, () => telemetry.inSpan(names.SPAN_HEARTBEAT, {}, async () => {}));
    await new Promise((r) => setTimeout(r, 30));
    await scheduler.stop();
  })).spanRecords;
  const ticks = spans.filter((s) => s.name === names.SPAN_JOB_TICK);
  assert.ok(ticks.length >= 2, `${ticks.length} ticks`);
  assert.ok(ticks.every((t) => t.parentSpanId === null && t.attributes[names.ATTR_JOB] === "beat"));
  assert.equal(new Set(ticks.map((t) => t.traceId)).size, ticks.length);
  const inner = spans.filter((s) => s.name === names.SPAN_HEARTBEAT);
  const tickIds = new Set(ticks.map((t) => t.spanId));
  assert.ok(inner.length > 0 && inner.every((s) => tickIds.has(s.parentSpanId!)));
});

Deno.test("parseTraceparent() reads valid headers and refuses the rest; formatTraceparent() writes them back", () => {
  const parsed = parseTraceparent(TRACEPARENT)!;
  assert.equal(parsed.traceId, TRACE_ID);
  assert.equal(parsed.isRemote, true);
  assert.equal(formatTraceparent(parsed), TRACEPARENT);
  // A runtime that adds its own header to one the caller set joins them: the first one counts.
  assert.equal(parseTraceparent(`${TRACEPARENT}, ${newTraceparent()}`)?.traceId, TRACE_ID);
  assert.equal(parseTraceparent(TRACEPARENT.toUpperCase())?.traceId, TRACE_ID);
  for (
    const bad of [
      undefined,
      "",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      `00-${TRACE_ID}-0000000000000000-01`,
      `ff-${TRACE_ID}-00f067aa0ba902b7-01`,
      `00-${TRACE_ID}-00f067aa0ba902b7-01-extra`,
      `00-${TRACE_ID.slice(1)}-00f067aa0ba902b7-01`,
    ]
  ) assert.equal(parseTraceparent(bad), null, String(bad));
  // A later version may carry more fields: its first four are read.
  assert.equal(parseTraceparent(`01-${TRACE_ID}-00f067aa0ba902b7-01-more`)?.traceId, TRACE_ID);
});

Deno.test("traceparentFor() takes the caller's header, else starts a new sampled trace; a bad one throws", () => {
  assert.equal(traceparentFor({ traceparent: TRACEPARENT }), TRACEPARENT);
  const fresh = traceparentFor();
  assert.match(fresh, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  assert.notEqual(fresh, traceparentFor());
  assert.throws(() => traceparentFor({ traceparent: "00-xyz" }), TypeError);
});

Deno.test("TraceMarks keeps at most TRACE_MARKS_MAX ids and nothing outside a span", async () => {
  const marks = new TraceMarks();
  marks.mark(["a"]);
  assert.equal(marks.size, 0, "no span active: nothing to remember");
  await collectTelemetry(async () => {
    await createTelemetry().inSpan(names.SPAN_PUSH, {}, () => {
      marks.mark(Array.from({ length: TRACE_MARKS_MAX + 10 }, (_, i) => `id${i}`));
      return Promise.resolve();
    });
  });
  assert.equal(marks.size, TRACE_MARKS_MAX);
  assert.equal(marks.placementFor(["id0"]), undefined, "the oldest were forgotten");
  assert.ok(marks.placementFor(["nope", `id${TRACE_MARKS_MAX + 9}`]) !== undefined);
});

Deno.test("log lines are one JSON object each, with trace_id and span_id inside a span, and honour the level", async () => {
  const lines: string[] = [];
  const previous = configureLog({ level: "info", sink: (line) => lines.push(line), now: () => 0 });
  try {
    const regional = log.with({ region: "eu-1" });
    regional.debug(names.EVENT_HTTP_REQUEST, { path: "/" });
    regional.info(names.EVENT_PEER_UP, { peer: "eu-2", error: new RangeError("x") });
    const emitted = await collectTelemetry(async () => {
      await createTelemetry().inSpan(names.SPAN_PUSH, {}, () => {
        log.warn(names.EVENT_PEER_DOWN, { peer: "eu-2" });
        return Promise.resolve();
      });
    });
    // collectTelemetry captured the line in the span; outside it, lines come here.
    assert.equal(lines.length, 1);
    assert.deepEqual(JSON.parse(lines[0]), {
      ts: "1970-01-01T00:00:00.000Z",
      level: "info",
      event: names.EVENT_PEER_UP,
      region: "eu-1",
      peer: "eu-2",
      error: "x",
      error_type: "RangeError",
    });
    const down = emitted.logLines.find((l) => l.event === names.EVENT_PEER_DOWN)!;
    const span = emitted.spanRecords.find((s) => s.name === names.SPAN_PUSH)!;
    assert.equal(down.trace_id, span.traceId);
    assert.equal(down.span_id, span.spanId);
  } finally {
    configureLog(previous);
  }
});
