/**
 * The sandbox's controller as a process of its own (sandbox/controller.ts):
 * `controller-main SPEC_FILE`. SIGTERM stops it after the invocation in flight.
 */
import { readFileSync } from 'node:fs';
import { runController, type ControllerSpec } from './controller.js';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: controller-main SPEC_FILE\n');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(file, 'utf8')) as ControllerSpec;
const stop = await runController(spec);
let stopping = false;
const quit = (): void => {
  if (stopping) return;
  stopping = true;
  void stop().finally(() => process.exit(0));
};
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
