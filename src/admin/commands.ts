import type { Argv, CommandModule } from 'yargs';
import { clearPolicy, closeConnection, deleteQueue, exportDefinitions, importDefinitions, list, moveMessages, purgeQueue, setPolicy } from './actions.js';
import { LISTABLE, type Listable } from './lists.js';
import { ManagementClient } from './management-client.js';

/** Runs `work` with a progress line on stderr, rewritten at each step, on a terminal only (nothing in a pipe or a log). */
async function withProgress<T>(work: (progress: (line: string) => void) => Promise<T>): Promise<T> {
  let shown = false;
  const progress = (line: string) => {
    if (!process.stderr.isTTY) return;
    // Cleared to the end: a shorter line must not leave the end of a longer one.
    process.stderr.write(`\r${line}\x1b[K`);
    shown = true;
  };
  try {
    return await work(progress);
  } finally {
    if (shown) process.stderr.write('\n');
  }
}

/** The management API on the broker's default port (docs/management.md). */
export const DEFAULT_API_URL = 'http://127.0.0.1:5680';

/** What the admin commands share with the CLI's other commands, so that they behave the same. */
export interface CliHelpers {
  /** A `.check` refusing an option given more than once. */
  singleValued(...names: string[]): (argv: Record<string, unknown>) => true;
  /** `--token`, else `$WARREN_TOKEN` unless a user name or password is given. */
  tokenOf(argv: { username?: string; password?: string; token?: string }): string | undefined;
}

interface ConnectionArgs {
  url: string;
  username?: string;
  password?: string;
  token?: string;
  vhost?: string;
}

const connectionOptions = {
  url: {
    type: 'string',
    default: DEFAULT_API_URL,
    describe: "the broker's URL; a ws:// or wss:// URL (as publish and consume take) means http:// or https:// on its host and port",
  },
  username: { type: 'string', alias: 'user', describe: 'username (HTTP basic), when the broker has users configured' },
  password: { type: 'string', describe: 'password for --username' },
  token: {
    type: 'string',
    describe: 'a JWT to send as a Bearer token instead of --username/--password; when absent, $WARREN_TOKEN is used (unless --username or --password is given)',
  },
} as const;

const CONNECTION_NAMES = ['url', 'username', 'password', 'token', 'vhost'];

/** The connection options and `--vhost`, described as the command uses it. */
const inVhost = <T>(y: Argv<T>, describe: string) => y.options(connectionOptions).option('vhost', { type: 'string', describe });
const IN_VHOST = 'the vhost (default "/")';

/** The `<name>` positional, a string even when it looks like a number. */
const name = <T>(y: Argv<T>, describe: string) => y.positional('name', { type: 'string', demandOption: true, describe });

/** The admin commands (docs/admin-cli.md): clients of the broker's management HTTP API, registered beside `serve`. */
export function adminCommands(helpers: CliHelpers): CommandModule[] {
  const check = (...names: string[]) => helpers.singleValued(...CONNECTION_NAMES, ...names);
  const client = (argv: ConnectionArgs) =>
    new ManagementClient(argv.url, { username: argv.username, password: argv.password, token: helpers.tokenOf(argv) });
  // A thunk, so that a bad --url or token, found as the client is made, rejects as a request's refusal does.
  const run = async (action: () => Promise<string>) => {
    process.stdout.write(await action());
  };

  return [
    {
      command: 'list <what>',
      describe: `list ${LISTABLE.slice(0, -1).join(', ')} or ${LISTABLE[LISTABLE.length - 1]}: a table, or --json`,
      builder: (y) =>
        inVhost(y, "only this vhost's (default: every vhost's)")
          .positional('what', { choices: LISTABLE, demandOption: true, describe: 'what to list' })
          .option('json', { type: 'boolean', default: false, describe: "print the API's JSON instead of a table" })
          .check(check()),
      handler: (argv) => {
        const args = argv as unknown as ConnectionArgs & { what: Listable; json: boolean };
        return run(() => list(client(args), args.what, { vhost: args.vhost, json: args.json, tty: process.stdout.isTTY === true }));
      },
    },
    {
      command: 'definitions',
      describe: "definitions export|import: the broker's queues, exchanges, bindings, users, vhosts and permissions, as JSON",
      builder: (y) =>
        y
          .command(
            'export [file]',
            'write the definitions to FILE, or to stdout',
            (sub) =>
              inVhost(sub, "one vhost's definitions, in RabbitMQ's per-vhost format (default: the whole broker's)")
                .positional('file', { type: 'string', describe: 'where to write them (default: stdout)' })
                .check(check()),
            (argv) => run(() => exportDefinitions(client(argv), { file: argv.file, vhost: argv.vhost })),
          )
          .command(
            'import <file>',
            "send FILE's definitions to the broker",
            (sub) =>
              inVhost(sub, "import into this vhost (FILE is RabbitMQ's per-vhost format; default: as FILE says)")
                .positional('file', { type: 'string', demandOption: true, describe: 'a definitions export (JSON)' })
                .check(check()),
            (argv) => run(() => withProgress((progress) => importDefinitions(client(argv), { file: argv.file, vhost: argv.vhost }, progress))),
          )
          .demandCommand(1, 'name a definitions command: export or import'),
      handler: () => undefined,
    },
    {
      command: 'queue',
      describe: "queue purge|delete|move: empty or delete a queue, or move its messages to another",
      builder: (y) =>
        y
          .command(
            'purge <name>',
            "drop the queue's ready messages",
            (sub) => name(inVhost(sub, IN_VHOST), 'the queue').check(check()),
            (argv) => run(() => purgeQueue(client(argv), { name: argv.name, vhost: argv.vhost })),
          )
          .command(
            'delete <name>',
            'delete the queue',
            (sub) =>
              name(inVhost(sub, IN_VHOST), 'the queue')
                .option('if-empty', { type: 'boolean', default: false, describe: 'only when it has no ready messages' })
                .option('if-unused', { type: 'boolean', default: false, describe: 'only when it has no consumers' })
                .check(check()),
            (argv) => run(() => deleteQueue(client(argv), { name: argv.name, vhost: argv.vhost, ifEmpty: argv.ifEmpty, ifUnused: argv.ifUnused })),
          )
          .command(
            'move',
            "move a queue's ready messages to another queue",
            (sub) =>
              inVhost(sub, IN_VHOST)
                .option('from', { type: 'string', demandOption: true, describe: 'the queue to take them from' })
                .option('to', { type: 'string', demandOption: true, describe: 'the queue to put them in' })
                .option('count', { type: 'string', describe: 'move this many at most (default: all)' })
                .check(check('from', 'to', 'count')),
            (argv) => run(() => withProgress((progress) => moveMessages(client(argv), { from: argv.from, to: argv.to, count: argv.count, vhost: argv.vhost }, progress))),
          )
          .demandCommand(1, 'name a queue command: purge, delete or move'),
      handler: () => undefined,
    },
    {
      command: 'policy',
      describe: 'policy set|clear: create, replace or delete a policy',
      builder: (y) =>
        y
          .command(
            'set <name>',
            'create or replace the policy',
            (sub) =>
              name(inVhost(sub, IN_VHOST), 'the policy')
                .option('pattern', { type: 'string', demandOption: true, describe: 'a regex: the names of the queues or exchanges it applies to' })
                .option('definition', { type: 'string', demandOption: true, describe: 'a JSON object, e.g. \'{"max-length": 1000}\'' })
                .option('priority', { type: 'string', describe: 'a whole number; of the policies that match, the highest applies (default 0)' })
                .option('apply-to', { choices: ['queues', 'exchanges', 'all'] as const, describe: 'what it applies to (default all)' })
                .check(check('pattern', 'definition', 'priority', 'apply-to')),
            (argv) =>
              run(() =>
                setPolicy(client(argv), {
                  name: argv.name,
                  vhost: argv.vhost,
                  pattern: argv.pattern,
                  definition: argv.definition,
                  priority: argv.priority,
                  applyTo: argv.applyTo,
                }),
              ),
          )
          .command(
            'clear <name>',
            'delete the policy',
            (sub) => name(inVhost(sub, IN_VHOST), 'the policy').check(check()),
            (argv) => run(() => clearPolicy(client(argv), { name: argv.name, vhost: argv.vhost })),
          )
          .demandCommand(1, 'name a policy command: set or clear'),
      handler: () => undefined,
    },
    {
      command: 'close-connection <name>',
      describe: "close a client's connection (its name as `list connections` shows it)",
      builder: (y) =>
        y
          .options(connectionOptions)
          .positional('name', { type: 'string', demandOption: true, describe: 'the connection, e.g. "127.0.0.1:53412 -> 127.0.0.1:5680"' })
          .option('reason', { type: 'string', describe: 'why, sent to the client in the close frame (default "Closed via management plugin")' })
          .check(check('reason')),
      handler: (argv) => {
        const args = argv as unknown as ConnectionArgs & { name: string; reason?: string };
        return run(() => closeConnection(client(args), { name: args.name, reason: args.reason }));
      },
    },
  ];
}
