/**
 * The AWS proxy as a process of its own (sandbox/aws-proxy.ts):
 * `aws-proxy-main --upstream URL --listen HOST --socket PATH --route NAME=PORT … [--service-latency JSON]`
 * (JSON: service → `{ "ms": N, "jitterMs": N }`, the latency profile's request latencies).
 * SIGTERM stops it.
 */
import { parseArgs } from 'node:util';
import { AwsFaultProxy, serveProxyControl } from './aws-proxy.js';
import { parseServiceLatency, type Delay } from './latency.js';

const { values } = parseArgs({
  options: {
    upstream: { type: 'string' },
    listen: { type: 'string' },
    socket: { type: 'string' },
    route: { type: 'string', multiple: true },
    'service-latency': { type: 'string' },
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
let serviceLatency: Record<string, Delay> | undefined;
if (values['service-latency']) {
  try {
    serviceLatency = parseServiceLatency(JSON.parse(values['service-latency']));
  } catch (error) {
    process.stderr.write(`bad --service-latency: ${(error as Error).message}\n`);
    process.exit(2);
  }
}
const proxy = new AwsFaultProxy({ upstream: values.upstream, listenHost: values.listen, routes, ...(serviceLatency ? { serviceLatency } : {}) });
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
