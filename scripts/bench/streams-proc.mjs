// What bench-streams.mjs reads from /proc (Linux): a process's RSS and CPU time, the machine's
// busy CPU time (so that a run can say how much CPU others used meanwhile), and the pid of
// RabbitMQ's Erlang VM.
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

const TICKS = 100; // USER_HZ

/** VmRSS of a process in bytes, or null when it is gone. */
export function rssBytes(pid) {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used so far, or null. */
export function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return null;
  }
}

/** CPU seconds all cores have spent busy (not idle, not waiting for I/O) since boot. */
export function machineBusySeconds() {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return (user + nice + system + irq + softirq + steal) / TICKS;
}

/** The pid of the beam.smp process (RabbitMQ's VM), or null. */
export function beamPid() {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'beam.smp') return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return null;
}

/**
 * Watches a broker while a measurement runs: its CPU, the client's (this process's) CPU, the CPU
 * everything else on the machine used, and (when `everyMs` is given) its RSS, sampled.
 */
export function watch(pid, everyMs) {
  const wall0 = performance.now();
  const broker0 = cpuSeconds(pid);
  const busy0 = machineBusySeconds();
  const self0 = process.cpuUsage();
  let peakRss = rssBytes(pid) ?? 0;
  const timer = everyMs ? setInterval(() => (peakRss = Math.max(peakRss, rssBytes(pid) ?? 0)), everyMs) : undefined;
  return {
    peakRss: () => peakRss,
    stop() {
      if (timer) clearInterval(timer);
      const seconds = (performance.now() - wall0) / 1000;
      const broker = (cpuSeconds(pid) ?? NaN) - broker0;
      const selfUsage = process.cpuUsage(self0);
      const client = (selfUsage.user + selfUsage.system) / 1e6;
      const others = machineBusySeconds() - busy0 - broker - client;
      const share = (v) => Number((v / seconds).toFixed(2));
      return { seconds, brokerCpu: share(broker), clientCpu: share(client), othersCpu: share(Math.max(0, others)), peakRss };
    },
  };
}
