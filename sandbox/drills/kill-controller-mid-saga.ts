/**
 * kill-controller-mid-saga: the primary's server crashes; as soon as the failover saga is claimed,
 * the controller running it is frozen (every call it makes never answers: a Lambda whose process
 * died) and a new controller starts. The new one must take the saga over once its owner's deadline
 * has passed and complete it exactly once: one term step, one promotion.
 */
import { startSandboxController } from '../controller.js';
import { killPostmaster } from './crash-primary.js';
import { sleep, snapshotOf, type Scenario } from './runner.js';

export const killControllerMidSaga: Scenario = {
  name: 'kill-controller-mid-saga',
  summary: "crash the primary's server, kill the controller as soon as it has claimed the failover saga, start a new controller",
  proves: 'a saga whose owner died is resumed from its recorded step by the next controller and completes exactly once (one term step, one promotion)',
  failoverExpected: true,
  async inject(ctx) {
    const { sandbox } = ctx;
    let frozen = false;
    // A controller that can be killed mid-invocation replaces the running one before the fault.
    await sandbox.replaceController((s) => startSandboxController(s, { frozen: () => frozen }));
    const before = await snapshotOf(ctx.store, sandbox);
    ctx.fault = Date.now();
    killPostmaster(ctx);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const s = await snapshotOf(ctx.store, sandbox).catch(() => undefined);
      if (s?.cluster.operation?.kind === 'failover' && s.cluster.term > before.cluster.term) {
        frozen = true;
        ctx.marks.controller_killed = Date.now();
        ctx.notes.push(`controller killed at saga step ${s.cluster.operation.step} (term ${s.cluster.term})`);
        break;
      }
      if (Date.now() > deadline) {
        ctx.notes.push('no failover saga claimed within 60 s; the controller was not killed');
        break;
      }
      await sleep(20);
    }
    await sandbox.replaceController(); // the sandbox's usual controller, a new one
    ctx.marks.controller_restarted = Date.now();
  },
};
