import { statfs } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import type { Logger } from 'pino';
import type { FlowConfig } from '../config/index.js';

/**
 * Watches memory (V8 heap against its limit) and free disk on the data dir; calls `onChange` with
 * a reason when either crosses its watermark and with null when both are clear again.
 * Returns a function that stops watching.
 */
export function watchAlarms(flow: FlowConfig, dataDir: string, logger: Logger, onChange: (reason: string | null) => void): () => void {
  const heapLimit = getHeapStatistics().heap_size_limit;
  let current: string | null = null;
  let checking = false;
  const check = async () => {
    if (checking) return;
    checking = true;
    try {
      const reason = memoryAlarm(flow, heapLimit) ?? (await diskAlarm(flow, dataDir));
      if (reason !== current) {
        current = reason;
        if (reason) logger.warn({ reason }, 'alarm: blocking publishers');
        else logger.info('alarm cleared: unblocking publishers');
        onChange(reason);
      }
    } catch (error) {
      logger.error({ err: error }, 'could not check memory and disk');
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), flow.checkIntervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

function memoryAlarm(flow: FlowConfig, heapLimit: number): string | null {
  const used = process.memoryUsage().heapUsed;
  if (used <= heapLimit * flow.memoryHighWatermark) return null;
  return `memory: heap ${mib(used)} MiB is above the watermark (flow.memoryHighWatermark ${flow.memoryHighWatermark} of ${mib(heapLimit)} MiB)`;
}

async function diskAlarm(flow: FlowConfig, dataDir: string): Promise<string | null> {
  if (flow.diskFreeLimitBytes === 0) return null;
  const stats = await statfsNearest(dataDir);
  const free = stats.bavail * stats.bsize;
  if (free >= flow.diskFreeLimitBytes) return null;
  return `disk: ${mib(free)} MiB free on ${dataDir}, below flow.diskFreeLimitBytes (${mib(flow.diskFreeLimitBytes)} MiB)`;
}

const mib = (bytes: number): number => Math.round(bytes / 1048576);

/** statfs of the data dir, or of its nearest existing parent: a data dir not created yet lives on that disk. */
async function statfsNearest(dir: string) {
  for (let current = resolve(dir); ; current = dirname(current)) {
    try {
      return await statfs(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(current) === current) throw error;
    }
  }
}
