/**
 * Runs the ChatterBox benchmarks against their raw baselines on 127.0.0.1.
 *
 *   node dist/bench/main.js [all|delivery|storage|history|connections|mix|files|search|presence|cluster ...] [--smoke]
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

const SCENARIOS = ['delivery', 'storage', 'history', 'connections', 'mix', 'files', 'search', 'presence', 'cluster'] as const;
type Scenario = (typeof SCENARIOS)[number];

function parseArguments(argv: readonly string[]): { scenarios: Scenario[]; smoke: boolean } {
  const smoke = argv.includes('--smoke') || process.env.BENCH_SMOKE === '1';
  const names = argv.filter((argument) => argument !== '--smoke');
  if (names.length === 0 || names.includes('all')) return { scenarios: [...SCENARIOS], smoke };
  for (const name of names) {
    if (!(SCENARIOS as readonly string[]).includes(name)) {
      console.error(`Unknown scenario "${name}"; expected all or one of: ${SCENARIOS.join(', ')}`);
      process.exit(2);
    }
  }
  return { scenarios: names as Scenario[], smoke };
}

async function main(): Promise<void> {
  const { scenarios, smoke } = parseArguments(process.argv.slice(2));
  if (pinSelfToClientCore()) return;

  const settings = runSettings(smoke);
  const limit = spawnSync('sh', ['-c', 'ulimit -n']).stdout.toString().trim();
  console.log(`node ${process.version}, ${canPin() ? 'server pinned to core 0, load generator to core 1 (taskset)' : 'NOT pinned: taskset missing or one core'}, open-file limit ${limit}`);
  console.log(`${smoke ? 'SMOKE run: figures only show the code works' : `${settings.repeats} repeats, ${settings.stepMs} ms steps`}`);

  const started = Date.now();
  for (const scenario of scenarios) {
    progress(`scenario ${scenario}`);
    if (scenario === 'delivery') await runDelivery(settings, smoke ? [20] : [20, 100]);
    if (scenario === 'storage') await runStorage(settings);
    if (scenario === 'history') await runHistory(settings);
    if (scenario === 'connections') await runConnections(settings, smoke ? [500] : [5000, 15000]);
    if (scenario === 'mix') await runMix(settings);
    if (scenario === 'files') await runFiles(settings);
    if (scenario === 'search') await runSearchBench(settings);
    if (scenario === 'presence') await runPresence(settings);
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
