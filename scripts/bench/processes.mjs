// Every process the bench starts: the broker, the relay and the client processes. Each is
// started through `sh -c 'ulimit -n 65536'` (S5 needs over 10,000 sockets on each side), is
// remembered, and is killed by its pid on exit, Ctrl-C or error.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export const FD_LIMIT = 65536;
const WRAP = `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`;
const running = new Set();

function track(child) {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/** Kills whatever is still running (SIGKILL: used when the bench itself is going down). */
export function killAll() {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process has exited. */
export function stop(child, graceMs = 5000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/**
 * Starts a server that prints a JSON `{"msg":"listening","port":N}` line on stdout; resolves
 * with { child, port, pid, logs } where logs counts error/warn lines and keeps the last few.
 */
export function startServer(args, { nodeOptions = [], timeoutMs = 20_000 } = {}) {
  const child = track(spawn('sh', ['-c', WRAP, process.execPath, ...nodeOptions, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const logs = { errors: 0, warnings: 0, tail: [] };
  const keep = (line) => {
    logs.tail.push(line.slice(0, 500));
    if (logs.tail.length > 20) logs.tail.shift();
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`server did not report listening within ${timeoutMs} ms`)), timeoutMs);
    const fail = (error) => {
      clearTimeout(timer);
      stop(child, 1000);
      reject(new Error(`${error.message}\n${logs.tail.join('\n')}`));
    };
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        return keep(line);
      }
      if (entry.level >= 40) {
        if (entry.level >= 50) logs.errors++;
        else logs.warnings++;
        keep(line);
      }
      if (entry.msg === 'listening' && typeof entry.port === 'number') {
        clearTimeout(timer);
        resolve({ child, pid: child.pid, port: entry.port, logs });
      }
    });
    createInterface({ input: child.stderr }).on('line', keep);
    child.once('exit', (code, signal) => fail(new Error(`server exited early (code ${code}, signal ${signal})`)));
    child.once('error', fail);
  });
}

/** Runs one client job in its own process (client.mjs), bounded by timeoutMs. */
export function runClient(job, timeoutMs) {
  const script = new URL('./client.mjs', import.meta.url).pathname;
  const child = track(spawn('sh', ['-c', WRAP, process.execPath, script], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  return new Promise((resolve) => {
    let settled = false;
    const settle = (reply) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(reply);
    };
    const timer = setTimeout(() => {
      settle({ ok: false, error: `timed out after ${Math.round(timeoutMs / 1000)} s` });
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', settle);
    child.once('exit', (code, signal) => settle({ ok: false, error: `client process exited (code ${code}, signal ${signal}) without a result` }));
    child.once('spawn', () => child.send(job));
  });
}
