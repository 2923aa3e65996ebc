/**
 * How the sandbox and the tests start the moto server: through sandbox/moto_server.py, which makes
 * the DynamoDB backend's item operations atomic (moto serves requests on parallel threads without a
 * lock, so two conditional writes could both pass; DynamoDB's cannot), then runs moto unchanged.
 */
import { fileURLToPath } from 'node:url';

export const MOTO_SERVER_SCRIPT = fileURLToPath(new URL('./moto_server.py', import.meta.url));

/** `python3` arguments for a moto server listening on `host:port`. */
export function motoServerArgs(host: string, port: number): string[] {
  return [MOTO_SERVER_SCRIPT, '-H', host, '-p', String(port)];
}
