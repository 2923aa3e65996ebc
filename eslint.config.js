// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const impure = 'core/ is the pure decision layer: time, I/O and SDKs come in as arguments (STYLE.md).';

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
      ],
    },
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
