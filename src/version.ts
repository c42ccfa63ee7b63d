import { readFileSync } from 'node:fs';

/** Warren's version, from package.json; its own module so that the CLI can print it without loading the server. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
