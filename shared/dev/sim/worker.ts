/**
 * A worker thread of `npm run simulate --jobs N`: its own fake and harness, running the seeds the main
 * thread hands it one at a time (a seed's result does not depend on which worker runs it).
 * Messages in: a seed, or null to stop. Out: each seed's result.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startHarness } from './harness.js';
import { runSeed } from './simulate.js';

const port = parentPort!;
const { keepTraces } = workerData as { keepTraces: boolean };
const harness = await startHarness();
port.on('message', (seed: number | null) => {
  if (seed === null) {
    void harness.close().then(() => port.close());
    return;
  }
  // A seed that throws (a simulator bug) is an unhandled rejection: the worker dies and the main thread reports it.
  void runSeed(harness, seed, { keepTrace: keepTraces }).then((result) => port.postMessage(result));
});
port.postMessage('ready');
