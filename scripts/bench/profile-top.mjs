// `node scripts/bench/profile-top.mjs FILE.cpuprofile [N]`: the N functions with the most self
// time in a V8 CPU profile (as written by `npm run bench -- --broker-prof DIR`).
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

const [file, top = '25'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/bench/profile-top.mjs FILE.cpuprofile [N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const self = new Map();
const gaps = profile.timeDeltas;
profile.samples.forEach((id, i) => {
  const { functionName, url, lineNumber } = byId.get(id).callFrame;
  const where = url ? `${relative(process.cwd(), url.replace('file://', ''))}:${lineNumber + 1}` : '';
  const key = `${functionName || '(anonymous)'} ${where}`.trim();
  self.set(key, (self.get(key) ?? 0) + (gaps[i + 1] ?? 0));
});
const total = [...self.values()].reduce((a, b) => a + b, 0);
for (const [key, micros] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) {
  console.log(`${((100 * micros) / total).toFixed(1).padStart(5)}%  ${(micros / 1000).toFixed(0).padStart(6)} ms  ${key}`);
}
