// `npm run bench` (after the build): see scripts/bench/runner.mjs and docs/performance.md.
import { main } from './bench/runner.mjs';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    process.stderr.write(`bench: ${error.message}\n`);
    process.exit(2);
  },
);
