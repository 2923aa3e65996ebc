/**
 * The AWS proxy as a process of its own (sandbox/aws-proxy.ts):
 * `aws-proxy-main --upstream URL --listen HOST --socket PATH --route NAME=PORT …`.
 * SIGTERM stops it.
 */
import { parseArgs } from 'node:util';
import { AwsFaultProxy, serveProxyControl } from './aws-proxy.js';

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    listen: { type: 'string' },
    socket: { type: 'string' },
    route: { type: 'string', multiple: true },
  },
});
if (!values.upstream || !values.listen || !values.socket || !values.route?.length) {
  process.stderr.write('usage: aws-proxy-main --upstream URL --listen HOST --socket PATH --route NAME=PORT …\n');
  process.exit(2);
}
const routes: Record<string, number> = {};
for (const r of values.route) {
  const m = /^([a-z0-9-]+)=(\d+)$/.exec(r);
  if (!m) {
    process.stderr.write(`bad --route "${r}": expected NAME=PORT\n`);
    process.exit(2);
  }
  routes[m[1] as string] = Number(m[2]);
}
const proxy = new AwsFaultProxy({ upstream: values.upstream, listenHost: values.listen, routes });
await proxy.start();
const stopControl = await serveProxyControl(proxy, values.socket);
process.stdout.write(`${JSON.stringify({ msg: 'aws proxy listening', upstream: values.upstream, routes: proxy.status() })}\n`);
let stopping = false;
const quit = (): void => {
  if (stopping) return;
  stopping = true;
  void Promise.all([stopControl(), proxy.stop()]).finally(() => process.exit(0));
};
process.on('SIGTERM', quit);
process.on('SIGINT', quit);
