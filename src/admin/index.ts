// The admin CLI (docs/admin-cli.md): a client of the management HTTP API over the global fetch.
// It imports nothing from the broker's folders and loads no server package, only node:fs for files.
export { adminCommands, type CliHelpers } from './commands.js';
export { positiveInteger } from './arguments.js';
