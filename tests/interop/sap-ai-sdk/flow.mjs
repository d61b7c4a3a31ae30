// Drives a running Runledger server with the official @sap-ai-sdk/ai-api client, as a user would:
// configuration -> execution -> RUNNING -> stop -> STOPPED -> delete -> bulk stop + delete.
//
// Input (environment):
//   AICORE_SERVICE_KEY  the service key, {"clientid","clientsecret","url","serviceurls":{"AI_API_URL"}};
//                       the SDK itself fetches a token from POST {url}/oauth/token with it.
//   INTEROP_SCENARIO_ID, INTEROP_EXECUTABLE_ID  the workflow template to run (defaults below).
//   INTEROP_TIMEOUT_SECONDS  overall deadline (default 90); every wait is bounded by it.
// Output: one JSON object on stdout with what the SDK returned; exit code 1 and the error on stderr
// on any failure.

import { ConfigurationApi, ExecutionApi } from '@sap-ai-sdk/ai-api';
import { bounded, headers, httpFailure, pollIntervalMs, remainingMs, sleep, warmUp } from './common.mjs';

const scenarioId = process.env.INTEROP_SCENARIO_ID ?? 'interop-scn';
const executableId = process.env.INTEROP_EXECUTABLE_ID ?? 'interop-sleeper';

/** The response's body and the deletion job header(s) Runledger adds (for the test to follow). */
async function raw(what, builder) {
  const response = await bounded(what, builder.executeRaw());
  const jobs = response.headers?.['runledger-deletion-job'];
  return { status: response.status, body: response.data, jobIds: jobs ? String(jobs).split(',') : [] };
}

/** Polls execution.get until its status is one of `wanted`; returns every distinct status seen, in order. */
async function waitForStatus(executionId, wanted) {
  const seen = [];
  while (remainingMs() > 0) {
    const execution = await bounded(`get ${executionId}`, ExecutionApi.executionGet(executionId, {}, headers).execute());
    if (seen.at(-1) !== execution.status) {
      seen.push(execution.status);
    }
    if (wanted.includes(execution.status)) {
      return { execution, seen };
    }
    if (['DEAD', 'COMPLETED'].includes(execution.status) && !wanted.includes(execution.status)) {
      throw new Error(`execution ${executionId} ended as ${execution.status} while waiting for ${wanted}: ${JSON.stringify(execution)}`);
    }
    await sleep(pollIntervalMs);
  }
  throw new Error(`execution ${executionId} did not reach ${wanted} in time; statuses seen: ${seen.join(' -> ')}`);
}

/** Polls execution.get until the server answers 404 (the deletion job has removed the execution). */
async function waitForNotFound(executionId) {
  const seen = [];
  while (remainingMs() > 0) {
    try {
      const execution = await bounded(`get ${executionId}`, ExecutionApi.executionGet(executionId, {}, headers).execute());
      const state = `${execution.status}/${execution.targetStatus}`;
      if (seen.at(-1) !== state) {
        seen.push(state);
      }
    } catch (error) {
      const failure = httpFailure(error);
      if (failure?.status === 404) {
        return { seen, notFound: failure };
      }
      throw error;
    }
    await sleep(pollIntervalMs);
  }
  throw new Error(`execution ${executionId} was still there at the deadline; seen: ${seen.join(' -> ')}`);
}

async function createExecution(configurationId) {
  return bounded('execution.create', ExecutionApi.executionCreate({ configurationId }, headers).execute());
}

async function stop(executionId) {
  return bounded(`execution.modify ${executionId}`, ExecutionApi.executionModify(executionId, { targetStatus: 'STOPPED' }, headers).execute());
}

async function main() {
  const result = {};
  await warmUp();

  result.configuration = await bounded('configuration.create', ConfigurationApi.configurationCreate({
    name: 'interop-config',
    scenarioId,
    executableId,
    parameterBindings: [],
    inputArtifactBindings: [],
  }, headers).execute());
  const configurationId = result.configuration.id;
  result.configurationRead = await bounded('configuration.get', ConfigurationApi.configurationGet(configurationId, {}, headers).execute());

  // One execution through its whole life, one call at a time.
  const created = await createExecution(configurationId);
  const id = created.id;
  const running = await waitForStatus(id, ['RUNNING']);
  const stopResponse = await stop(id);
  const stopped = await waitForStatus(id, ['STOPPED']);
  const deleted = await raw(`execution.delete ${id}`, ExecutionApi.executionDelete(id, headers));
  const gone = await waitForNotFound(id);
  result.single = {
    id,
    create: created,
    statusesUntilRunning: running.seen,
    running: running.execution,
    stop: stopResponse,
    statusesUntilStopped: stopped.seen,
    stopped: stopped.execution,
    delete: deleted,
    afterDelete: gone,
  };

  // Two more: one still running (bulk stops it), one already stopped (bulk deletes it).
  const toDelete = (await createExecution(configurationId)).id;
  await waitForStatus(toDelete, ['RUNNING']);
  await stop(toDelete);
  await waitForStatus(toDelete, ['STOPPED']);
  const toStop = (await createExecution(configurationId)).id;
  await waitForStatus(toStop, ['RUNNING']);
  const request = {
    executions: [
      { id: toStop, targetStatus: 'STOPPED' },
      { id: toDelete, targetStatus: 'DELETED' },
    ],
  };
  const bulk = await raw('execution.batchModify', ExecutionApi.executionBatchModify(request, headers));
  const bulkStopped = await waitForStatus(toStop, ['STOPPED']);
  const bulkDeleted = await waitForNotFound(toDelete);
  result.bulk = {
    toStop,
    toDelete,
    request,
    response: bulk,
    stopped: bulkStopped.execution,
    afterDelete: bulkDeleted,
  };

  result.executionsLeft = await bounded('execution.query', ExecutionApi.executionQuery({}, headers).execute());
  return result;
}

try {
  const result = await main();
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
} catch (error) {
  const failure = httpFailure(error);
  process.stderr.write(`interop flow failed: ${error?.stack ?? error}\n`);
  if (failure) {
    process.stderr.write(`last HTTP failure: ${failure.status} ${JSON.stringify(failure.body)}\n`);
  }
  process.exit(1);
}
