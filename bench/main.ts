/**
 * Runs the ChatterBox benchmarks against their raw baselines on 127.0.0.1.
 *
 *   node dist/bench/main.js [all|delivery|storage|history|connections|mix|files|search|search-postgres|presence|import|cluster ...] [--smoke] [--messages N]
 *
 * BENCH_SMOKE=1 or --smoke runs every scenario briefly to check the code
 * still works; its figures are not results. docs/benchmarks.md has the method.
 */
import { spawnSync } from 'node:child_process';
import { runCluster } from './cluster.js';
import { runConnections } from './connections.js';
import { runDelivery } from './delivery.js';
import { runFiles } from './files.js';
import { runMix } from './mix.js';
import { runPresence } from './presence.js';
import { canPin, pinSelfToClientCore } from './lib/proc.js';
import { printSummary, progress, runSettings } from './lib/report.js';
import { runHistory, runStorage } from './storage.js';
import { runSearchBench } from './search.js';
import { runSlackImportBench } from './slack-import.js';
import { runSearchPostgresBench } from './search-postgres.js';

const SCENARIOS = ['delivery', 'storage', 'history', 'connections', 'mix', 'files', 'search', 'search-postgres', 'presence', 'import', 'cluster'] as const;
type Scenario = (typeof SCENARIOS)[number];
/**
 * Scenarios that `all` leaves out, so `npm run bench` and `bench:smoke` need neither PostgreSQL nor
 * Redis: search-postgres (its smoke run took 15 to 70 s on a busy machine) and cluster (30 to 60 s).
 */
const NAMED_ONLY: readonly Scenario[] = ['search-postgres', 'cluster'];

function parseArguments(argv: readonly string[]): { scenarios: Scenario[]; smoke: boolean; messages?: number } {
  const smoke = argv.includes('--smoke') || process.env.BENCH_SMOKE === '1';
  const messagesFlag = argv.indexOf('--messages');
  const messages = messagesFlag === -1 ? undefined : Number(argv[messagesFlag + 1]);
  if (messages !== undefined && !(Number.isInteger(messages) && messages > 0)) {
    console.error('--messages takes a positive whole number: the size of the generated Slack export');
    process.exit(2);
  }
  const flagIndexes = messagesFlag === -1 ? [] : [messagesFlag, messagesFlag + 1];
  const names = argv.filter((argument, index) => argument !== '--smoke' && !flagIndexes.includes(index));
  if (names.length === 0 || names.includes('all')) return { scenarios: SCENARIOS.filter((scenario) => !NAMED_ONLY.includes(scenario)), smoke, messages };
  for (const name of names) {
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      console.error(`Unknown scenario "${name}"; expected all or one of: ${SCENARIOS.join(', ')}`);
      process.exit(2);
    }
  }
  return { scenarios: names as Scenario[], smoke, messages };
}

/** Fan-outs of the delivery scenario: BENCH_FANOUTS (comma-separated) or 20 and 100; the smoke run takes 20. */
function deliveryFanouts(smoke: boolean): number[] {
  const listed = process.env.BENCH_FANOUTS;
  if (listed === undefined || listed === '') return smoke ? [20] : [20, 100];
  const fanouts = listed.split(',').map(Number);
  if (fanouts.some((fanout) => !Number.isInteger(fanout) || fanout < 2)) {
    console.error(`Invalid BENCH_FANOUTS "${listed}"; expected integers of at least 2, such as 20,100`);
    process.exit(2);
  }
  return fanouts;
}

async function main(): Promise<void> {
  const { scenarios, smoke, messages } = parseArguments(process.argv.slice(2));
  if (pinSelfToClientCore()) return;

  const settings = runSettings(smoke);
  const limit = spawnSync('sh', ['-c', 'ulimit -n']).stdout.toString().trim();
  console.log(`node ${process.version}, ${canPin() ? 'server pinned to core 0, load generator to core 1 (taskset)' : 'NOT pinned: taskset missing or one core'}, open-file limit ${limit}`);
  console.log(`${smoke ? 'SMOKE run: figures only show the code works' : `${settings.repeats} repeats, ${settings.stepMs} ms steps`}`);

  const started = Date.now();
  for (const scenario of scenarios) {
    progress(`scenario ${scenario}`);
    if (scenario === 'delivery') await runDelivery(settings, deliveryFanouts(smoke));
    if (scenario === 'storage') await runStorage(settings);
    if (scenario === 'history') await runHistory(settings);
    if (scenario === 'connections') await runConnections(settings, smoke ? [500] : [5000, 15000]);
    if (scenario === 'mix') await runMix(settings);
    if (scenario === 'files') await runFiles(settings);
    if (scenario === 'search') await runSearchBench(settings);
    if (scenario === 'search-postgres') await runSearchPostgresBench(settings);
    if (scenario === 'presence') await runPresence(settings);
    if (scenario === 'import') await runSlackImportBench({ smoke, messages });
    // Named on the command line, the scenario fails without PostgreSQL and Redis; under `all` it skips.
    if (scenario === 'cluster') await runCluster(settings, process.argv.slice(2).includes('cluster'));
  }
  printSummary(`${smoke ? 'smoke' : 'bench'}-${scenarios.join('-')}`);
  console.log(`Finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error('Benchmark failed:', error);
  process.exit(1);
});
