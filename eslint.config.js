// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const impure = 'core/ is the pure decision layer: time, I/O and SDKs come in as arguments (STYLE.md).';

/*
 * The layers above core/ (docs/architecture.md, "Layers"): which folders each may not import,
 * and that only adapters/ talk to AWS or PostgreSQL. Composition roots may still create SDK
 * clients (one per process, handed to the adapters); commands and pg clients are adapters' work.
 */
const LAYERS = {
  adapters: ['agent', 'functions', 'cli', 'shell', 'sandbox', 'infra'],
  shell: ['adapters', 'agent', 'functions', 'cli', 'sandbox', 'infra'],
  functions: ['agent', 'cli', 'shell', 'sandbox', 'infra'],
  agent: ['functions', 'cli', 'sandbox', 'infra'],
  infra: ['agent', 'functions', 'cli', 'shell', 'sandbox'],
  cli: [],
};
const adapterOnly = 'Only adapters/ send AWS SDK commands or open PostgreSQL clients: add or use an adapter (docs/architecture.md).';

/*
 * One composition root per process (docs/architecture.md, "Composition roots"): the entry points
 * build the dependencies and pass them down, so the layers below hold no module-level variable a
 * test or another program could swap (`let deps; export function setDeps(…)`).
 */
const rooted = 'No module-level mutable state or setters for injection: the entry point builds the dependencies and passes them down (docs/architecture.md, "Composition roots").';
const ROOTED_FOLDERS = ['core', 'adapters', 'shell', 'agent', 'functions', 'cli', 'infra'];
const moduleState = [
  { selector: "Program > VariableDeclaration[kind!='const']", message: rooted },
  { selector: "Program > ExportNamedDeclaration > VariableDeclaration[kind!='const']", message: rooted },
  { selector: 'Program > ExportNamedDeclaration > FunctionDeclaration[id.name=/^set[A-Z]/]', message: rooted },
];

/** A folder's import restrictions: the folders above it, and the SDK commands and pg clients below. */
function layer(folder, forbidden) {
  const message = `${folder}/ may not import ${forbidden.map((f) => `${f}/`).join(', ')} (docs/architecture.md, "Layers").`;
  const above = forbidden.length === 0 ? [] : [{ regex: `^(\\.\\./)+(${forbidden.join('|')})/`, message }];
  return {
    files: [`${folder}/**/*.ts`],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            ...above,
            ...(folder === 'adapters'
              ? []
              : [
                  { group: ['@aws-sdk/*'], importNamePattern: 'Command$', message: adapterOnly },
                  { regex: '^pg(-[a-z-]+)?$', allowTypeImports: true, message: adapterOnly },
                ]),
          ],
        },
      ],
    },
  };
}

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'cdk.out/**', 'coverage/**', '.tmp/**', '.sandbox/**', '**/*.js', '!eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The purity boundary of core/, enforced mechanically.
    files: ['core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@aws-sdk/*', 'aws-cdk-lib', 'aws-cdk-lib/*', 'pg', 'pg-*'], message: impure },
            { group: ['node:*', 'fs', 'fs/*', 'child_process', 'net', 'http', 'https', 'os', 'dgram', 'dns', 'worker_threads', 'crypto'], message: impure },
            { group: ['../agent/*', '../functions/*', '../cli/*', '../sandbox/*', '../infra/*', '../../agent/*', '../../functions/*', '../../cli/*', '../../sandbox/*', '../../infra/*'], message: impure },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: impure },
        { name: 'setTimeout', message: impure },
        { name: 'setInterval', message: impure },
        { name: 'fetch', message: impure },
        { name: 'performance', message: impure },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']", message: impure },
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: impure },
        { selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']", message: impure },
        ...moduleState,
      ],
    },
  },
  ...Object.entries(LAYERS).map(([folder, forbidden]) => layer(folder, forbidden)),
  {
    // core/ has the same selectors in its own list above (a later list would replace it).
    files: ROOTED_FOLDERS.filter((f) => f !== 'core').map((f) => `${f}/**/*.ts`),
    rules: { 'no-restricted-syntax': ['error', ...moduleState] },
  },
  {
    // bin/pgvigil.cjs: CommonJS on purpose, so the installed command's help loads no ES module (docs/cli.md, "Start-up").
    files: ['bin/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', __dirname: 'readonly', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: "CallExpression[callee.object.name=/^(it|test|describe)$/][callee.property.name=/^(only|skip)$/]", message: 'No focused or skipped tests in main.' },
      ],
    },
  },
);
