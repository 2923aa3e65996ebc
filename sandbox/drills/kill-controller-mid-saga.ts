/**
 * kill-controller-mid-saga: the primary's server crashes; as soon as the failover saga is claimed,
 * the controller process running it is killed (SIGKILL: a Lambda whose process died mid-invocation;
 * the SSM commands it had sent run on, as on real hosts) and the sandbox starts a new one. The new
 * one must take the saga over once its owner's deadline has passed and complete it exactly once:
 * one term step, one promotion.
 */
import { CONTROLLER_PROCESS, readyController } from '../controller.js';
import { ROOT_HOST } from '../netns.js';
import { killPostmaster } from './crash-primary.js';
import { sleep, snapshotOf } from './heal.js';
import type { Scenario } from './scenario.js';

export const killControllerMidSaga: Scenario = {
  name: 'kill-controller-mid-saga',
  summary: "crash the primary's server, kill the controller as soon as it has claimed the failover saga, start a new controller",
  proves: 'a saga whose owner died is resumed from its recorded step by the next controller and completes exactly once (one term step, one promotion)',
  failoverExpected: true,
  async inject(ctx) {
    const { sandbox } = ctx;
    const before = await snapshotOf(ctx.store, sandbox);
    ctx.fault = Date.now();
    killPostmaster(ctx);
    const deadline = Date.now() + 60_000;
    let killed: number | null = null;
    for (;;) {
      const s = await snapshotOf(ctx.store, sandbox).catch(() => undefined);
      if (s?.cluster.operation?.kind === 'failover' && s.cluster.term > before.cluster.term) {
        killed = sandbox.supervisor.signal(ROOT_HOST, CONTROLLER_PROCESS, 'SIGKILL');
        ctx.marks.controller_killed = Date.now();
        ctx.notes.push(`controller killed at saga step ${s.cluster.operation.step} (term ${s.cluster.term}, pid ${killed ?? '?'})`);
        break;
      }
      if (Date.now() > deadline) {
        ctx.notes.push('no failover saga claimed within 60 s; the controller was not killed');
        break;
      }
      await sleep(20);
    }
    if (killed === null) return;
    // The supervisor starts the next one (Lambda's next invocation runs in a new process).
    const restartBy = Date.now() + 90_000;
    for (;;) {
      const ready = readyController(sandbox.dir);
      if (ready !== null && ready !== killed && ready === sandbox.supervisor.pid(ROOT_HOST, CONTROLLER_PROCESS)) break;
      if (Date.now() > restartBy) {
        ctx.notes.push('no new controller was ready within 90 s');
        return;
      }
      await sleep(50);
    }
    ctx.marks.controller_restarted = Date.now();
  },
};
