/**
 * Two fake nodes behind a balancer whose health checks run by hand (`lb.app.checker.checkOnce()`),
 * for what waits on a node that stops answering: `stopA()` sends `a` SIGSTOP (SIGCONT after the
 * test), so requests and handshakes sent to it wait until the checker marks it down.
 */
import { onTestFinished } from 'vitest';
import { startBalancer } from './balancer.js';
import { startFakeNode } from './fake-node.js';

export async function twoNodesOneToStop(timeouts: Record<string, string>) {
  const [a, b] = await Promise.all([startFakeNode('a'), startFakeNode('b')]);
  const lb = await startBalancer(
    [a, b],
    { timeouts, healthCheck: { timeout: '100ms', unhealthyThreshold: 1 } },
    { manualHealth: true },
  );
  const stopA = () => {
    a.process.kill('SIGSTOP');
    onTestFinished(() => {
      a.process.kill('SIGCONT');
    });
  };
  return { a, b, lb, nodeA: lb.app.pool.get('a')!, stopA };
}
