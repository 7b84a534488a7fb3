/**
 * A mesh whose jobs run only on a platform's scheduled trigger and on agent traffic (issue 13):
 * three in-process regions (eu-1, eu-2 | us-1) on the mesh's simulated clock, each with its jobs
 * on a TickScheduler — `cronTick()` every `tickMs`, and pushes running the due lease, heartbeat
 * and fan-out jobs. Time is simulated, so a one-minute trigger is simulated as is, not scaled;
 * the work itself runs for real. One instance per region (the trigger and the pushes reach the
 * same isolate: the best case for a serverless host).
 *
 * Measures, in simulated ms: how soon a push to eu-2 is readable in us-1 (two hops), how soon
 * after eu-1 is cut off it reports `minority` and the others stop counting it, and how soon after
 * the heal all three hold the same set, with `writesPerSide` deltas written on each side meanwhile.
 */
import { InProcessMesh } from "./in_process_mesh.ts";
import { testAgent } from "./signing.ts";

export interface CronScenario {
  /** Period of the trigger, in ms (60,000: a one-minute cron). */
  readonly tickMs: number;
  readonly heartbeatMs: number;
  readonly leaseTtlMs: number;
  /** A push to every region this often, in ms (agent traffic); null for none. */
  readonly pushEveryMs: number | null;
  /** Where in the minute the cut starts, in ms after a trigger. */
  readonly cutAfterTickMs: number;
  /** How long eu-1 stays cut off, in ms. */
  readonly partitionMs: number;
  /** Deltas pushed to eu-1 and to us-1 while cut apart. */
  readonly writesPerSide: number;
  /** Simulated step between two looks at the mesh, in ms. */
  readonly stepMs?: number;
}

export interface CronFigures {
  /** Push to eu-2 → readable in us-1, for each marked push before the cut, in ms. */
  readonly visibilityMs: number[];
  /** Cut → eu-1 reports minority, in ms (null: never within the partition). */
  readonly minorityMs: number | null;
  /** Cut → neither eu-2 nor us-1 counts eu-1 reachable, in ms (null: never). */
  readonly othersDropMs: number | null;
  /** Heal → every region holds every delta, in ms (null: not within 10 triggers). */
  readonly healMs: number | null;
  /** Looks before the cut at which some region reported minority (false alarms). */
  readonly falseAlarms: number;
  readonly looks: number;
}

const LAYOUT = [
  { id: "eu-1", zone: "eu" },
  { id: "eu-2", zone: "eu" },
  { id: "us-1", zone: "us" },
];

async function statusOf(mesh: InProcessMesh, id: string) {
  const response = await mesh.region(id).app.request("/v1/status");
  return await response.json() as {
    partition: string;
    peers: { id: string; reachable: boolean }[];
    deltas: number;
  };
}

async function deltasIn(mesh: InProcessMesh, id: string, channel: string): Promise<number> {
  return JSON.parse(await mesh.view(id, channel)).deltas as number;
}

/** Runs the scenario; the figures are in simulated ms. */
export async function runCronScenario(o: CronScenario): Promise<CronFigures> {
  const step = o.stepMs ?? 1_000;
  const mesh = new InProcessMesh(LAYOUT, {
    requestJobs: true,
    heartbeatMs: o.heartbeatMs,
    leaseTtlMs: o.leaseTtlMs,
  });
  const agent = testAgent(() => mesh.nowMs);
  let pushes = 0;
  const push = async (id: string, channel: string, n = 1) => {
    const deltas = Array.from(
      { length: n },
      () => agent.sign(channel, [{ op: "inc", counter: "n", by: ++pushes }]),
    );
    await mesh.push(id, deltas);
    await mesh.settle();
  };
  const start = mesh.nowMs;
  const at = () => mesh.nowMs - start;
  /** One simulated step: the trigger when due, traffic when due, then the clock moves on. */
  const advance = async () => {
    if (at() % o.tickMs === 0) await mesh.cronTick();
    if (o.pushEveryMs !== null && at() % o.pushEveryMs === 0) {
      for (const r of LAYOUT) await push(r.id, "traffic");
    }
    mesh.nowMs += step;
  };
  // Two triggers to settle: leases, first heartbeats.
  while (at() < 2 * o.tickMs) await advance();

  const visibilityMs: number[] = [];
  let falseAlarms = 0, looks = 0;
  const cutAt = 3 * o.tickMs + o.cutAfterTickMs;
  while (at() < cutAt) {
    if (at() % 10_000 === 5_000) {
      await push("eu-2", `mark${at()}`);
      const channel = `mark${at()}`, pushedAt = at();
      while ((await deltasIn(mesh, "us-1", channel)) === 0 && at() - pushedAt < 3 * o.tickMs) {
        await advance();
      }
      visibilityMs.push(at() - pushedAt);
    }
    for (const r of LAYOUT) {
      looks++;
      if ((await statusOf(mesh, r.id)).partition === "minority") falseAlarms++;
    }
    await advance();
  }

  mesh.isolate("eu-1");
  let minorityMs: number | null = null, othersDropMs: number | null = null;
  for (let k = 0; at() < cutAt + o.partitionMs; k++) {
    if (k < o.writesPerSide / 10) {
      await push("eu-1", "room", 10);
      await push("us-1", "room", 10);
    }
    if (minorityMs === null && (await statusOf(mesh, "eu-1")).partition === "minority") {
      minorityMs = at() - cutAt;
    }
    if (othersDropMs === null) {
      const seen = await Promise.all(
        ["eu-2", "us-1"].map(async (id) =>
          (await statusOf(mesh, id)).peers.find((p) => p.id === "eu-1")!.reachable
        ),
      );
      if (!seen.includes(true)) othersDropMs = at() - cutAt;
    }
    await advance();
  }

  mesh.isolate(null);
  const healedAt = at();
  const total = 2 * Math.ceil(o.writesPerSide / 10) * 10;
  let healMs: number | null = null;
  while (at() < healedAt + 10 * o.tickMs) {
    const held = await Promise.all(LAYOUT.map((r) => deltasIn(mesh, r.id, "room")));
    if (held.every((n) => n === total)) {
      healMs = at() - healedAt;
      break;
    }
    await advance();
  }
  return { visibilityMs, minorityMs, othersDropMs, healMs, falseAlarms, looks };
}
