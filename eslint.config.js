import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The layers of docs/design.md: what each folder of src/ may import from the others. Anything not
// listed is refused, and so is reaching past another folder's index.ts (its public face). Cycles,
// type-only ones included, are `madge --circular` in `npm run lint`.
const LAYERS = {
  broker: { may: [] },
  store: { may: ['broker'] },
  protocol: { may: ['broker'] },
  auth: { may: ['broker'] },
  config: { may: ['broker', 'auth'] },
  transport: { may: ['broker', 'protocol', 'config', 'auth'] },
  // The management API (docs/management.md): HTTP in, reads of the model and the app's services out.
  http: { may: ['broker', 'auth', 'config', 'transport'] },
  // Several nodes on one Redis (docs/clustering.md): the store port's Redis side, and the sync of the model.
  cluster: { may: ['broker', 'config'] },
  // The client runs in browsers: the protocol's types only (erased at build), no broker code.
  client: { may: [], typesOnly: ['protocol'] },
  // The admin CLI (docs/admin-cli.md): a client of the management API over fetch, no broker code.
  admin: { may: [] },
  // The dashboard (docs/dashboard.md) runs in browsers: the management API over fetch, nothing else of src.
  dashboard: { may: [] },
};
const FOLDERS = Object.keys(LAYERS);
// The model and the browser client stay free of I/O and of server packages.
const SERVER_PACKAGES = ['ws', 'pino', 'ajv', 'yargs', 'fastify', 'node:*'];

function layerRule(folder) {
  const { may, typesOnly = [] } = LAYERS[folder];
  const patterns = [
    ...FOLDERS.filter((other) => other !== folder).map((other) => ({
      group: [`**/${other}/*`, `!**/${other}/index.js`],
      message: `import another folder through its index.js (docs/design.md, "Layers")`,
    })),
    ...FOLDERS.filter((other) => other !== folder && !may.includes(other)).map((other) => ({
      group: [`**/${other}/index.js`],
      allowTypeImports: typesOnly.includes(other),
      message: `src/${folder} may not import src/${other}${typesOnly.includes(other) ? ' except with "import type"' : ''} (docs/design.md, "Layers")`,
    })),
    { group: ['**/app.js', '**/cli.js'], message: 'only the CLI imports the app (docs/design.md, "Layers")' },
  ];
  if (folder === 'broker' || folder === 'client' || folder === 'dashboard') {
    patterns.push({ group: SERVER_PACKAGES, message: `src/${folder} does no I/O and loads no server package (docs/design.md, "Layers")` });
  }
  if (folder === 'admin') {
    // It reads and writes definitions files (node:fs) and is typed against yargs, but runs none of the server.
    patterns.push({ group: ['ws', 'pino', 'ajv', 'fastify'], message: 'src/admin talks to the broker over HTTP (fetch) and loads no server package' });
    patterns.push({ group: ['yargs', 'yargs/*'], allowTypeImports: true, message: 'src/admin is typed against yargs; src/cli.ts runs it' });
  }
  return { files: [`src/${folder}/**/*.ts`], rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', queueMicrotask: 'readonly', Buffer: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  ...FOLDERS.map(layerRule),
);
