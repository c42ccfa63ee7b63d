import { describe, expect, it } from 'vitest';
import { failover } from '../../scripts/failover.mjs';
import { hasRedis } from './cluster-harness.js';

// The measured window and losses are scripts/failover.mjs's to report (docs/clustering.md,
// "Failures"); this test holds what must always be true of a failover.
describe.skipIf(!hasRedis)('cluster - Redis primary lost, Sentinel promotes the replica', () => {
  it('cluster - the nodes follow the new primary: publishes are confirmed again and every message confirmed since arrives', async () => {
    const result = await failover({ beforeMs: 1000, afterMs: 1000, inFlight: 20 });
    expect(result.switchedToPort).not.toBeNull();
    expect(result.windowMs).not.toBeNull();
    expect(result.lostAfterSwitch).toBe(0);
    expect(result.confirmed).toBeGreaterThan(100);
  }, 60_000);
});
