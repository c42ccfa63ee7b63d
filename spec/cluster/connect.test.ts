import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ClusterNode } from '../../src/cluster/index.js';
import { freePort } from '../../scripts/cluster-parts.mjs';

describe('cluster - connecting to Redis', () => {
  it('cluster - a Redis that is not there: each distinct error is logged once while three connections retry, then the start fails naming cluster.redis', async () => {
    const lines: { msg: string; err?: string }[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => lines.push(JSON.parse(line) as { msg: string; err?: string }) });
    const port = await freePort();
    await expect(ClusterNode.connect({ redis: `redis://127.0.0.1:${port}`, node: 'alone', nodeTimeoutMs: 1000 }, logger)).rejects.toThrow(
      new RegExp(`cannot reach Redis at redis://127\\.0\\.0\\.1:${port} \\(cluster\\.redis\\) within 10 s.*ECONNREFUSED`),
    );
    const refused = lines.filter((line) => line.err?.includes('ECONNREFUSED'));
    expect(refused).toHaveLength(1);
    expect(refused[0].msg).toMatch(/Redis connection error \(cluster\.redis\); reconnecting/);
  }, 20_000);
});
