// The CPU time of the workerd processes a benchmark started, read from
// /proc (Linux): what a bench divides by the requests it sent.
import { readFileSync, readdirSync } from "node:fs";

/** Milliseconds per clock tick (USER_HZ = 100 on Linux). */
export const TICK_MS = 10;

/** The fields of /proc/<pid>/stat after the command's name, and that name. */
function stat(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  return {
    comm: text.slice(text.indexOf("(") + 1, text.lastIndexOf(")")),
    fields: text.slice(text.lastIndexOf(")") + 2).split(" "),
  };
}

/** The workerd processes this process started (their PIDs). */
export function workerdPids() {
  const pids = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const { comm, fields } = stat(pid);
      if (comm === "workerd" && Number(fields[1]) === process.pid) pids.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** CPU ticks (user + system) of the processes `pids`. */
export function ticksOf(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const { fields } = stat(pid);
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks;
}

/** CPU ticks (user + system) of the workerd processes this process started. */
export function workerdTicks() {
  return ticksOf(workerdPids());
}
