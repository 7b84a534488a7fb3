/** What a benchmark ran on, for the generated tables: CPU, cores, memory, Deno, load, date. */

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memGiB: number;
  readonly deno: string;
  readonly v8: string;
  readonly os: string;
}

/** The CPU model of /proc/cpuinfo (first "model name"), or "unknown". */
export function cpuModel(cpuinfo: string): string {
  return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1].trim() ?? "unknown";
}

/** MemTotal of /proc/meminfo in GiB (one decimal), or NaN. */
export function memTotalGiB(meminfo: string): number {
  const kb = Number(/^MemTotal:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? NaN);
  return Math.round(kb / 1024 / 1024 * 10) / 10;
}

function readOr(path: string, fallback: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}

export function machine(): Machine {
  return {
    cpu: cpuModel(readOr("/proc/cpuinfo", "")),
    cores: navigator.hardwareConcurrency,
    memGiB: memTotalGiB(readOr("/proc/meminfo", "")),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: Deno.build.os,
  };
}

/** The 1-minute load average now (NaN where the OS does not say). */
export function loadNow(): number {
  try {
    return Math.round(Deno.loadavg()[0] * 100) / 100;
  } catch {
    return NaN;
  }
}

/** One line for a generated table's header. */
export function machineLine(m: Machine): string {
  return `${m.cores} × ${m.cpu}, ${m.memGiB} GiB, Deno ${m.deno} (V8 ${m.v8}), ${m.os}`;
}
