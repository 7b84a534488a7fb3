/** The figures of one simulated run, flat for JSON, and their text form. */
import { pushGossip, SEED_TARGETS, SERF_INTERVAL_MS, serfFormulaRounds } from "./serf_model.ts";
import type { SimulationResult, Spread } from "./simulation.ts";

const seconds = (ms: number) => Math.round(ms) / 1_000;
const spreadS = (s: Spread) => ({ p50: seconds(s.p50), p99: seconds(s.p99), max: seconds(s.max) });

/** Peak resident set of this process so far, MB (VmHWM; 0 where /proc is not there). */
export function peakRssMb(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } catch {
    return Math.round(Deno.memoryUsage().rss / 1_048_576);
  }
}

export type Figures = ReturnType<typeof runFigures>;

export function runFigures(r: SimulationResult, wallMs: number, peakRss: number) {
  const o = r.options;
  const t = r.traffic;
  const m = r.metrics;
  return {
    agents: o.agents,
    regions: o.regions,
    zones: o.zones,
    seed: o.seed,
    lossRate: o.lossRate,
    ingestPerSecond: o.ingestPerSecond,
    writesPerSecond: o.writesPerSecond,
    heartbeatJob: o.heartbeatJob,
    partitionS: o.partition ? o.partitionMs / 1_000 : 0,
    deltas: r.deltas,
    rounds: { steady: r.steady.rounds, partitioned: r.partitioned.rounds },
    convergeS: {
      steady: spreadS(r.steady.convergeMs),
      partitioned: spreadS(r.partitioned.convergeMs),
    },
    healToConvergedS: Number.isNaN(r.healToConvergedMs) ? null : seconds(r.healToConvergedMs),
    steadyDrainS: seconds(r.steadyDrainMs),
    repairRelay: o.repairRelay,
    drain: o.drain,
    perAgent: {
      messages: round2(t.perAgent.messages),
      bytes: Math.round(t.perAgent.bytes),
      dataMessages: round2(t.perAgent.dataMessages),
      dataBytes: Math.round(t.perAgent.dataBytes),
    },
    crossRegion: {
      messages: t.crossRegion.messages,
      bytes: t.crossRegion.bytes,
      crossZoneBytes: t.crossZone.bytes,
      bytesPerDelta: Math.round(t.crossRegionBytesPerDelta),
      bytesPerCopy: Math.round(t.crossRegionBytesPerCopy),
    },
    byKind: t.byKind,
    detection: {
      minorityS: nullable(r.detection.minorityMs),
      dropS: nullable(r.detection.dropMs),
      healS: nullable(r.detection.healMs),
      falseSuspicions: r.detection.falseSuspicions,
      falseMinorityS: seconds(r.detection.falseMinorityMs),
    },
    antiEntropy: m.antiEntropy,
    fanOutFailures: m.fanOutFailures,
    fanOutBacklogMax: m.backlogMax,
    duplicateCopies: m.duplicates,
    arrivals: m.arrivals,
    pushes: m.outcomes,
    checks: r.checks,
    target: SEED_TARGETS.get(o.agents) ?? null,
    serf: serfFigures(o.agents, o.seed, o.lossRate),
    wall: {
      totalS: seconds(wallMs),
      keysS: seconds(r.pool.keysMs),
      signS: seconds(r.pool.signMs),
      parseS: seconds(r.pool.parseMs),
      verifyS: seconds(r.pool.verifyMs),
      verified: r.pool.verified,
      runS: seconds(r.wall.runMs),
      events: r.wall.events,
      simulatedS: seconds(r.wall.simulatedMs),
      peakRssMb: peakRss,
    },
  };
}

function serfFigures(nodes: number, seed: number, loss: number) {
  const rounds = serfFormulaRounds(nodes, loss);
  const push = pushGossip(nodes, seed, loss);
  return {
    formulaRounds: rounds,
    formulaS: seconds(rounds * SERF_INTERVAL_MS),
    pushRounds9999: push.rounds9999,
    pushRoundsLast: push.roundsLast,
    pushMissed: push.missed,
    pushPacketsPerNode: round2(push.packetsPerNode),
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const nullable = (ms: number | null) => ms === null ? null : seconds(ms);
const mb = (bytes: number) => `${(bytes / 1_048_576).toFixed(1)} MB`;
const spread = (s: { p50: number; p99: number; max: number }) => `${s.p50} / ${s.p99} / ${s.max}`;

export function formatRun(f: Figures): string {
  const c = f.checks;
  const target = f.target === null ? "–" : `${f.target[0]}–${f.target[1]}`;
  return [
    `## ${f.agents.toLocaleString("en")} agents, ${f.regions} regions in ${f.zones} zones ` +
    `(seed ${f.seed}, loss ${f.lossRate}, ingest ${f.ingestPerSecond}/s per region, ` +
    `writes ${f.writesPerSecond}/s, partition ${f.partitionS} s, heartbeats ${f.heartbeatJob}, ` +
    `repair relay ${f.repairRelay}, drain ${f.drain})`,
    `deltas planned ${f.deltas.planned}, stored ${f.deltas.stored}, in every region ${f.deltas.converged}`,
    `rounds p50/p99/max: steady ${spread(f.rounds.steady)}; written in the partition ${
      spread(f.rounds.partitioned)
    }` +
    ` (seeds' target ${target}; Serf formula ${f.serf.formulaRounds}, push model ${f.serf.pushRoundsLast})`,
    `time to converge s p50/p99/max: steady ${spread(f.convergeS.steady)}; partition ${
      spread(f.convergeS.partitioned)
    }` +
    ` (Serf formula ${f.serf.formulaS} s)`,
    `heal → converged ${f.healToConvergedS} s; last steady write → steady deltas everywhere ${f.steadyDrainS} s`,
    `per agent: ${f.perAgent.messages} messages, ${f.perAgent.bytes} bytes (carrying deltas: ` +
    `${f.perAgent.dataMessages} messages, ${f.perAgent.dataBytes} bytes); cross-region ` +
    `${mb(f.crossRegion.bytes)} (${f.crossRegion.bytesPerCopy} B per delta copy), cross-zone ${
      mb(f.crossRegion.crossZoneBytes)
    }`,
    `by kind: ${
      Object.entries(f.byKind).map(([k, v]) =>
        `${k} ${v.messages} msgs ${mb(v.bytes)} (${v.lost} lost)`
      )
        .join("; ")
    }`,
    `detection: minority ${f.detection.minorityS} s, others drop it ${f.detection.dropS} s, ` +
    `heal seen ${f.detection.healS} s; false suspicions ${f.detection.falseSuspicions}, ` +
    `false minority ${f.detection.falseMinorityS} region-s`,
    `anti-entropy: ${f.antiEntropy.sessions} sessions (${f.antiEntropy.failed} failed, ` +
    `${f.antiEntropy.deferred} deferred), rounds max ${f.antiEntropy.roundsMax}, pulled ` +
    `${f.antiEntropy.pulled}, pushed ${f.antiEntropy.pushed}; fan-out failures ${f.fanOutFailures}, ` +
    `most entries behind ${f.fanOutBacklogMax.zone} (zone) / ${f.fanOutBacklogMax.crossZone} (across); ` +
    `duplicate copies ${f.duplicateCopies}; pushes ${JSON.stringify(f.pushes)}`,
    `checks: sets equal ${c.setsEqual} (fingerprint ${c.fingerprint}, ${c.deltasPerRegion} each), ` +
    `quarantine equal ${c.quarantineEqual} (${c.quarantined} of ${c.equivocators} equivocators), ` +
    `views equal ${c.viewsEqual} (${c.viewChannels.length} channels, ${c.viewDeltas} deltas), ` +
    `forged stored ${c.forgedStored}${
      c.problems.length > 0 ? `; PROBLEMS: ${c.problems.join("; ")}` : ""
    }`,
    `wall: ${f.wall.totalS} s (keys ${f.wall.keysS}, sign ${f.wall.signS}, parse ${f.wall.parseS}, ` +
    `verify ${f.wall.verifyS} s for ${f.wall.verified}; run ${f.wall.runS} s, ${f.wall.events} events, ` +
    `${f.wall.simulatedS} simulated s), peak RSS ${f.wall.peakRssMb} MB`,
  ].join("\n");
}

/** The seeds' targets and both Serf models for each size. */
export function formatTargets(sizes: readonly number[], loss = 0.01): string {
  const rows = sizes.map((n) => {
    const t = SEED_TARGETS.get(n);
    const s = serfFigures(n, 1, loss);
    return `| ${n.toLocaleString("en")} | ${
      t ? `${t[0]}–${t[1]}` : "–"
    } | ${s.formulaRounds} (${s.formulaS} s) | ` +
      `${s.pushRounds9999} / ${s.pushRoundsLast} (${s.pushMissed} missed, ${s.pushPacketsPerNode} packets/node) |`;
  });
  return [
    `| agents | seeds' target rounds | Serf simulator formula, rounds to 99.99% (time at 200 ms) | push-gossip model, rounds to 99.99% / last node |`,
    `| --- | --- | --- | --- |`,
    ...rows,
  ].join("\n");
}
