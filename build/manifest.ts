/**
 * The build's record of what each part read and wrote (dist/build-manifest.json), and the
 * staleness check made from it: cheap enough to run before every `npm start` and test run (a few
 * hundred stat calls), without loading esbuild or TypeScript. Parts are rebuilt on their own, so
 * an edit to the CLI does not wait for the infra declarations (the slowest part).
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ARTIFACTS, packageRoot } from './artifacts.js';

/** The parts of the build, in the order they are built (the host package packs the CLI and the agent). */
export const PARTS = ['cli', 'agent', 'functions', 'infra', 'types', 'host'] as const;
export type Part = (typeof PARTS)[number];

export interface PartRecord {
  /** When this part's build started (ms since the epoch): an input modified after it makes the part stale. */
  startedAt: number;
  /** Files the part read, relative to the package root (no node_modules: see {@link DEPENDENCY_STAMPS}). */
  inputs: string[];
  /** Files the part wrote, relative to the package root. */
  outputs: string[];
}

export interface BuildManifest {
  version: string;
  parts: Partial<Record<Part, PartRecord>>;
}

/**
 * Files npm rewrites whenever node_modules changes, and the build's own code: every part reads
 * them (the packages in node_modules stand behind the first three).
 */
export const COMMON_INPUTS = [
  'package.json',
  'package-lock.json',
  'node_modules/.package-lock.json',
  'tsconfig.json',
  'build/index.ts',
  'build/artifacts.ts',
  'build/manifest.ts',
  'build/host-package.ts',
];

export function writeManifest(manifest: BuildManifest, root = packageRoot()): void {
  writeFileSync(join(root, ARTIFACTS.manifest), `${JSON.stringify(manifest, null, 1)}\n`);
}

export function readManifest(root = packageRoot()): BuildManifest | undefined {
  const file = join(root, ARTIFACTS.manifest);
  if (!existsSync(file)) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(file, 'utf8')) as BuildManifest;
    return typeof manifest.parts === 'object' && manifest.parts !== null ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/** Why one part of dist/ does not match the sources, or undefined when it does. */
export function partStaleReason(record: PartRecord | undefined, root: string): string | undefined {
  if (!record) return 'never built';
  for (const output of record.outputs) {
    if (!existsSync(join(root, output))) return `${output} is missing`;
  }
  for (const input of record.inputs) {
    let mtime: number;
    try {
      mtime = statSync(join(root, input)).mtimeMs;
    } catch {
      return `${input} is gone`;
    }
    if (mtime > record.startedAt) return `${input} changed`;
  }
  return undefined;
}

/** The stale parts of dist/, each with why. Empty when dist/ matches the sources. */
export function staleParts(root = packageRoot()): Map<Part, string> {
  const manifest = readManifest(root);
  const stale = new Map<Part, string>();
  for (const part of PARTS) {
    const reason = partStaleReason(manifest?.parts[part], root);
    if (reason) stale.set(part, reason);
  }
  return stale;
}
