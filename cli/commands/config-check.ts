/**
 * `pgvigil config check -f FILE [--json]`: load a repmgr.conf-format file the way the agent will,
 * and print the effective configuration with where each value came from, or every problem at once.
 */
import type { LoadedConfig } from '../../adapters/config-file.js';
import type { ConfigOrigin } from '../../core/config/index.js';
import { ConfigError, formatConfigProblem } from '../../core/errors.js';
import { ExitCode } from '../../core/exit-codes.js';
import { defineCommand, opt } from '../../shell/framework.js';

function originText(origin: ConfigOrigin): string {
  switch (origin.source) {
    case 'file':
      return `file line ${origin.line}`;
    case 'env':
      return `env ${origin.variable}`;
    case 'default':
      return 'default';
  }
}

export const configCheckCommand = defineCommand({
  words: ['config', 'check'],
  summary: 'check a repmgr.conf-format configuration file and print the effective configuration',
  usage: 'config check -f FILE [--json]',
  examples: ['pgvigil config check -f /etc/pgvigil/repmgr.conf', 'PGVIGIL_CLUSTER_ID=orders pgvigil config check -f repmgr.conf --json'],
  options: {
    json: { type: 'boolean', description: 'print the result as JSON on stdout' },
  },
  async run(ctx) {
    // The parser and its schemas are loaded by the commands that read a file, not at start-up (build/index.ts).
    const [{ loadConfigFile, resolveConfigPath }, { CONFIG_KEY_NAMES, displayConfigValue, redactConfig }] = await Promise.all([
      import('../../adapters/config-file.js'),
      import('../../core/config/index.js'),
    ]);
    const { out, env } = ctx;
    const json = opt.flag(ctx, 'json');
    const file = resolveConfigPath(opt.string(ctx, 'config-file'));
    let loaded: LoadedConfig;
    try {
      loaded = loadConfigFile(file, env);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      if (json) out.print(JSON.stringify({ file, valid: false, problems: error.problems }, null, 2));
      for (const p of error.problems) out.error(formatConfigProblem(p));
      out.hint(`${error.problems.length} ${error.problems.length === 1 ? 'problem' : 'problems'} found; see docs/configuration.md for every key, its type and its default`);
      return ExitCode.ERR_BAD_CONFIG;
    }

    const config = redactConfig(loaded.config);
    if (json) {
      out.print(JSON.stringify({ file, valid: true, config, sources: loaded.origins, notices: loaded.notices }, null, 2));
      return ExitCode.SUCCESS;
    }
    for (const notice of loaded.notices) out.notice(notice);
    const lines = CONFIG_KEY_NAMES.map((key) => ({ text: `${key}=${displayConfigValue(key, config[key])}`, origin: originText(loaded.origins[key]) }));
    const width = Math.min(60, Math.max(...lines.map((l) => l.text.length)));
    out.print(`# effective configuration of ${file}`);
    for (const l of lines) out.print(`${l.text.padEnd(width)}  # ${l.origin}`);
    out.info(`configuration file "${file}" is valid`);
    return ExitCode.SUCCESS;
  },
});
