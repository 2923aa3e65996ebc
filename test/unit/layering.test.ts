import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// The layering of docs/architecture.md ("Layers") is enforced by eslint.config.js and by the
// import graph below; these tests show that both would catch a wrong-way import.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE_FOLDERS = ['core', 'adapters', 'shell', 'agent', 'functions', 'cli', 'infra', 'sandbox', 'bench', 'build'];

/** Lints `code` as if it were the file at `path` (relative to the repository), with only the import rules. */
async function importProblems(path: string, code: string): Promise<string[]> {
  const eslint = new ESLint({
    cwd: ROOT,
    // The fixture is not on disk, so no type information: only the import rules run.
    overrideConfig: { languageOptions: { parserOptions: { projectService: false } } },
    ruleFilter: ({ ruleId }) => ruleId.endsWith('no-restricted-imports'),
  });
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, path) });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse'}: ${m.message}`);
}

// ESLint and TypeScript load slowly on a busy machine.
describe('the lint of the layers', { timeout: 60_000 }, () => {
  it.each([
    ['agent/fixture.ts', "import { defineCommand } from '../cli/framework.js';\nvoid defineCommand;\n", 'agent/ may not import'],
    ['agent/daemon/fixture.ts', "import { runSwitchover } from '../../functions/switchover.js';\nvoid runSwitchover;\n", 'agent/ may not import'],
    ['agent/fixture.ts', "import { Sandbox } from '../sandbox/index.js';\nvoid Sandbox;\n", 'agent/ may not import'],
    ['functions/sagas/fixture.ts', "import { main } from '../../cli/main.js';\nvoid main;\n", 'functions/ may not import'],
    ['functions/fixture.ts', "import { Sandbox } from '../sandbox/index.js';\nvoid Sandbox;\n", 'functions/ may not import'],
    ['adapters/fixture.ts', "import { AgentDaemon } from '../agent/daemon/daemon.js';\nvoid AgentDaemon;\n", 'adapters/ may not import'],
    ['shell/fixture.ts', "import { main } from '../cli/main.js';\nvoid main;\n", 'shell/ may not import'],
    ['cli/fixture.ts', "import { PutItemCommand } from '@aws-sdk/client-dynamodb';\nvoid PutItemCommand;\n", 'Only adapters/'],
    ['agent/fixture.ts', "import pg from 'pg';\nvoid pg;\n", 'Only adapters/'],
  ])('refuses %s when it imports the wrong way (%#)', async (path, code, expected) => {
    const problems = await importProblems(path, code);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(expected);
  });

  it.each([
    ['cli/fixture.ts', "import { hostActionCommands } from '../agent/commands.js';\nvoid hostActionCommands;\n"],
    ['agent/fixture.ts', "import type { ClientConfig } from 'pg';\nexport type C = ClientConfig;\n"],
    ['cli/fixture.ts', "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nvoid DynamoDBClient;\n"],
    ['adapters/fixture.ts', "import { PutItemCommand } from '@aws-sdk/client-dynamodb';\nvoid PutItemCommand;\n"],
    ['sandbox/fixture.ts', "import { main } from '../cli/main.js';\nvoid main;\n"],
  ])('lets %s import downwards (%#)', async (path, code) => {
    expect(await importProblems(path, code)).toEqual([]);
  });
});

let sources: Map<string, string[]> | undefined;

/** Every relative import (static, re-export or dynamic) of every source file, as repository paths. */
function importGraph(): Map<string, string[]> {
  if (sources) return sources;
  const graph = new Map<string, string[]>();
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) files.push(path);
    }
  };
  for (const folder of SOURCE_FOLDERS) {
    try {
      walk(join(ROOT, folder));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  for (const file of files) {
    // The scanner alone (no parse): static imports, re-exports and dynamic import() calls.
    const imports = ts
      .preProcessFile(readFileSync(file, 'utf8'), true, true)
      .importedFiles.map((ref) => ref.fileName)
      .filter((specifier) => specifier.startsWith('.'))
      .map((specifier) => relative(ROOT, resolve(dirname(file), specifier.replace(/\.js$/, '.ts'))));
    graph.set(relative(ROOT, file), imports);
  }
  sources = graph;
  return graph;
}

/** The import cycles of `graph`, each as the path that closes it (a → b → … → a). */
function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next].join(' → '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of [...graph.keys()].sort()) if (!state.has(file)) visit(file);
  return found;
}

describe('the import graph of the sources', { timeout: 60_000 }, () => {
  it('has no cycles, type-only imports included', () => {
    expect(cycles(importGraph())).toEqual([]);
  });

  it('would name a cycle if one were there', () => {
    const graph = new Map([
      ['sandbox/index.ts', ['sandbox/controller.ts']],
      ['sandbox/controller.ts', ['core/model.ts', 'sandbox/index.ts']],
      ['core/model.ts', []],
    ]);
    expect(cycles(graph)).toEqual(['sandbox/controller.ts → sandbox/index.ts → sandbox/controller.ts']);
  });

  it('sees the imports of the real sources', () => {
    const graph = importGraph();
    expect(graph.get('agent/main.ts')?.length).toBeGreaterThan(0);
    expect(graph.get('functions/handlers/evaluator.ts')).toContain('functions/controller.ts');
  });
});
