/**
 * How the sandbox and the tests start the moto server: through sandbox/moto_server.py, which makes
 * the DynamoDB backend's item operations atomic (moto serves requests on parallel threads without a
 * lock, so two conditional writes could both pass; DynamoDB's cannot), then runs moto unchanged.
 */
import { join } from 'node:path';
import { packageRoot } from '../build/artifacts.js';

/** Found from the package root, so the bundled CLI (dist/chunks/…) finds it too. */
export const MOTO_SERVER_SCRIPT = join(packageRoot(), 'sandbox/moto_server.py');

/** `python3` arguments for a moto server listening on `host:port`. */
export function motoServerArgs(host: string, port: number): string[] {
  return [MOTO_SERVER_SCRIPT, '-H', host, '-p', String(port)];
}
