/**
 * CPU time a process has used, all its threads together (the event loop, libuv's pool, V8's
 * GC and compiler threads), from /proc/PID/task/TID/schedstat: nanoseconds on a CPU, so a
 * short run at a low rate is still measured precisely (/proc/PID/stat counts 10 ms ticks).
 * Linux only.
 */
import { readdirSync, readFileSync } from 'node:fs';

export function processCpuNs(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read: its time is lost, not counted twice
    }
  }
  return total;
}
