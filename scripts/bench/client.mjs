// The client process: receives one job over IPC ({ target, scenarioId, url, ... }), runs it
// with worker threads, sends the result back, and exits.
import { runFlow } from './flow.mjs';
import { SCENARIOS } from './scenarios.mjs';
import { runWide } from './wide.mjs';

process.once('message', async (job) => {
  const scenario = SCENARIOS[job.scenarioId];
  let reply;
  try {
    const run = scenario.kind === 'wide' ? runWide : runFlow;
    reply = { ok: true, result: await run({ ...job, scenario }) };
  } catch (error) {
    reply = { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
  process.send(reply, () => process.exit(0));
});
