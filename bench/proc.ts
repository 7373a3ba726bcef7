// CPU time of processes from /proc (Linux), for the bench scripts' CPU-per-unit figures.
import { readdirSync, readFileSync } from 'node:fs';

const USER_HZ = 100;

/** Every process now: parent pid and cumulative CPU seconds (user + system). */
export function processTable(): Map<number, { ppid: number; cpuSeconds: number }> {
  const out = new Map<number, { ppid: number; cpuSeconds: number }>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(d), { ppid: Number(f[1]), cpuSeconds: (Number(f[11]) + Number(f[12])) / USER_HZ });
    } catch {
      /* gone */
    }
  }
  return out;
}

/** CPU seconds of this process's direct children (the dev server, a simulator), optionally filtered. */
export function childrenCpuSeconds(only?: (pid: number) => boolean): number {
  let total = 0;
  for (const [pid, p] of processTable()) if (p.ppid === process.pid && (!only || only(pid))) total += p.cpuSeconds;
  return total;
}
