import { defineCommand } from '../../shell/framework.js';
import { PGVIGIL_VERSION } from '../../core/version.js';

export const versionCommand = defineCommand({
  words: ['version'],
  summary: 'print the pgvigil version',
  usage: 'version',
  examples: ['pgvigil version'],
  options: {},
  async run({ out }) {
    out.print(`pgvigil ${PGVIGIL_VERSION}`);
    return 0;
  },
});
