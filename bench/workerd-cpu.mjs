// The CPU time of the workerd processes a benchmark started, read from
// /proc (Linux): what a bench divides by the requests it sent.
import { readFileSync, readdirSync } from "node:fs";

/** Milliseconds per clock tick (USER_HZ = 100 on Linux). */
export const TICK_MS = 10;

/** CPU ticks (user + system) of the workerd processes this process started. */
export function workerdTicks() {
  let ticks = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (comm === "workerd" && Number(fields[1]) === process.pid) ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks;
}
