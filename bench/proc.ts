// Reads a process's RSS and CPU time from /proc (Linux), for footprint benchmarks.
import { readFileSync } from 'node:fs';

const TICKS_PER_S = 100; // USER_HZ on Linux

export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** utime + stime of the process in seconds. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

export interface Footprint { rss_mb: number; rss_max_mb: number; cpu_pct: number }

/** Samples a process every second for `seconds` after `warmupS`; mean RSS, max RSS, CPU % of one core. */
export async function sampleFootprint(pid: number, seconds: number, warmupS = 5): Promise<Footprint> {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await sleep(warmupS * 1000);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  const rss: number[] = [];
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    rss.push(rssMb(pid));
  }
  const cpu = cpuSeconds(pid) - cpu0;
  const elapsed = (performance.now() - t0) / 1000;
  const mean = rss.reduce((a, b) => a + b, 0) / rss.length;
  return { rss_mb: round(mean), rss_max_mb: round(Math.max(...rss)), cpu_pct: round((cpu / elapsed) * 100) };
}

export const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
