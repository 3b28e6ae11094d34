/**
 * What every HTTP exchange uses, whatever the runtime settings: built once per data plane.
 */
import type { Clock } from '../../clock.js';
import type { Logger } from '../../logger.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { PassiveEvidence } from '../../pool/node-table.js';
import type { TaskReports } from '../../pool/open-tasks.js';
import type { TaskLookupBudget } from '../http/task-lookup.js';
import type { Lifecycle } from '../lifecycle.js';
import type { Tracing } from '../tracing/spans.js';
import type { UpstreamClients } from './upstream-clients.js';

/** The data plane's parts an exchange works with. */
export interface ExchangeContext {
  /** Where the exchange reports whether its node answered (the pool). */
  readonly pool: PassiveEvidence;
  readonly clients: UpstreamClients;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly tracing: Tracing;
  /** Rule 9's lookups left to this replica (task-lookup.ts). */
  readonly taskLookups: TaskLookupBudget;
  /** The stop under way, if any: heads written while closing say `Connection: close`. */
  readonly lifecycle: Lifecycle;
  /** Where deploy tasks seen starting and finishing are reported (safe to stop). */
  readonly tasks: TaskReports;
  /** What the exchange timers run on. */
  readonly clock: Clock;
}
