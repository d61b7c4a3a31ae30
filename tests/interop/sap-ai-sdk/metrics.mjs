// Drives a running Runledger server's metrics API with the official @sap-ai-sdk/ai-api client:
// configuration -> execution -> COMPLETED -> MetricsApi.metricsPatch (twice) -> metricsFind (by
// executionIds, by the deprecated $filter, with tagFilters and $select) -> metricsDelete -> find
// (empty) -> metricsDelete again (404).
//
// Input (environment):
//   AICORE_SERVICE_KEY  the service key, {"clientid","clientsecret","url","serviceurls":{"AI_API_URL"}}.
//   INTEROP_SCENARIO_ID, INTEROP_EXECUTABLE_ID  a workflow template whose process ends at once.
//   INTEROP_TIMEOUT_SECONDS  overall deadline (default 90); every wait is bounded by it.
// Output: one JSON object on stdout with what the SDK sent and returned; exit code 1 and the error on
// stderr on any failure.
//
// How the SDK (2.16.0) sends query parameters: @sap-ai-sdk/core hands them to the Cloud SDK as
// "custom" parameters, which it does not encode, and axios joins them as `${key}=${value}`. So arrays
// go out comma-joined (executionIds=a,b; $select=metrics,tags) and a value with a space (a $filter
// expression) never leaves the client (Node: ERR_UNESCAPED_CHARACTERS) unless the caller encodes it.

import { ConfigurationApi, ExecutionApi, MetricsApi } from '@sap-ai-sdk/ai-api';
import { axiosFailure, bounded, headers, httpFailure, pollIntervalMs, remainingMs, sleep, warmUp } from './common.mjs';

const scenarioId = process.env.INTEROP_SCENARIO_ID ?? 'interop-metrics-scn';
const executableId = process.env.INTEROP_EXECUTABLE_ID ?? 'interop-echo';

/** What the SDK put on the wire: method, path with query, and content type, as Node.js sent them. */
function sent(request) {
  return { method: request?.method, path: request?.path, contentType: request?.getHeader?.('content-type') ?? null };
}

/** Runs a builder with executeRaw and keeps the request line, status, body and deletion job header. */
async function raw(what, builder, requestConfig) {
  const response = await bounded(what, builder.executeRaw(undefined, requestConfig));
  const jobs = response.headers?.['runledger-deletion-job'];
  return {
    request: sent(response.request),
    status: response.status,
    contentType: response.headers?.['content-type'] ?? null,
    body: response.data,
    jobIds: jobs ? String(jobs).split(',') : [],
  };
}

/**
 * Runs a builder that must fail. Keeps what the SDK's error exposes: the HTTP answer (status, headers,
 * body) or, when the request never left the client, the Node.js error code under ErrorWithCause.
 */
async function failing(what, builder, requestConfig) {
  let response;
  try {
    response = await bounded(what, builder.executeRaw(undefined, requestConfig));
  } catch (error) {
    const failure = axiosFailure(error);
    if (failure) {
      return {
        sdkMessage: error.message,
        request: sent(failure.request),
        status: failure.response.status,
        contentType: failure.response.headers?.['content-type'] ?? null,
        requestId: failure.response.headers?.['x-request-id'] ?? null,
        body: failure.response.data,
      };
    }
    let cause = error;
    while (cause?.cause) {
      cause = cause.cause;
    }
    if (typeof cause?.code === 'string') {
      return { sdkMessage: error.message, clientError: { code: cause.code, message: cause.message } };
    }
    throw error;
  }
  throw new Error(`${what}: expected a failure but got ${response.status} ${JSON.stringify(response.data)}`);
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
    if (['DEAD', 'STOPPED', 'COMPLETED'].includes(execution.status)) {
      throw new Error(`execution ${executionId} ended as ${execution.status} while waiting for ${wanted}: ${JSON.stringify(execution)}`);
    }
    await sleep(pollIntervalMs);
  }
  throw new Error(`execution ${executionId} did not reach ${wanted} in time; statuses seen: ${seen.join(' -> ')}`);
}

async function main() {
  const result = {};
  await warmUp();

  const configuration = await bounded('configuration.create', ConfigurationApi.configurationCreate({
    name: 'interop-metrics-config',
    scenarioId,
    executableId,
    parameterBindings: [],
    inputArtifactBindings: [],
  }, headers).execute());
  const created = await bounded('execution.create', ExecutionApi.executionCreate({ configurationId: configuration.id }, headers).execute());
  const id = created.id;
  const completed = await waitForStatus(id, ['COMPLETED']);
  result.executionId = id;
  result.configurationId = configuration.id;
  result.statusesUntilCompleted = completed.seen;

  // Log: points with and without step/labels, tags and customInfo; then more points and a tag that
  // replaces one of the same name.
  const firstPatch = {
    executionId: id,
    metrics: [
      { name: 'loss', value: 0.9, timestamp: '2026-01-01T00:00:01Z', step: 1, labels: [{ name: 'split', value: 'train' }] },
      { name: 'loss', value: 0.5, timestamp: '2026-01-01T00:00:02Z', step: 2 },
      { name: 'accuracy', value: 0.75, timestamp: '2026-01-01T00:00:02.5+01:00', step: 2, labels: [{ name: 'metrics.ai.sap.com/Artifact.name', value: 'model-a' }] },
    ],
    tags: [{ name: 'team', value: 'vision' }, { name: 'stage', value: 'dev' }],
    customInfo: [{ name: 'Confusion Matrix', value: '[{"Predicted":"False","Actual":"False","value":34}]' }],
  };
  const secondPatch = {
    executionId: id,
    metrics: [{ name: 'loss', value: 0.25, timestamp: '2026-01-01T00:00:03Z' }],
    tags: [{ name: 'stage', value: 'prod' }, { name: 'owner', value: 'ml platform' }],
  };
  result.patch = {
    first: { body: firstPatch, response: await raw('metrics.patch 1', MetricsApi.metricsPatch(firstPatch, headers)) },
    second: { body: secondPatch, response: await raw('metrics.patch 2', MetricsApi.metricsPatch(secondPatch, headers)) },
  };

  // Query. The SDK types executionIds and $select as arrays; it sends them comma-joined.
  const filter = `executionId eq '${id}'`;
  result.find = {
    byExecutionIds: await raw('metrics.find executionIds', MetricsApi.metricsFind({ executionIds: [id] }, headers)),
    byTwoExecutionIds: await raw('metrics.find two executionIds', MetricsApi.metricsFind({ executionIds: [id, 'nometrics0000'] }, headers)),
    byFilterAsIs: await failing('metrics.find $filter as is', MetricsApi.metricsFind({ $filter: filter }, headers)),
    byFilterEncoded: await raw('metrics.find $filter encoded', MetricsApi.metricsFind({ $filter: encodeURIComponent(filter) }, headers)),
    tagMatch: await raw('metrics.find tagFilters match', MetricsApi.metricsFind({ executionIds: [id], tagFilters: 'stage=prod,team' }, headers)),
    // A space must be encoded by the caller, like $filter; only the value, so ',' '=' '!=' still separate.
    tagEncodedValue: await raw('metrics.find tagFilters encoded value', MetricsApi.metricsFind({ executionIds: [id], tagFilters: `owner=${encodeURIComponent('ml platform')}` }, headers)),
    tagNoMatch: await raw('metrics.find tagFilters no match', MetricsApi.metricsFind({ executionIds: [id], tagFilters: 'stage=dev' }, headers)),
    tagNotEqual: await raw('metrics.find tagFilters not equal', MetricsApi.metricsFind({ executionIds: [id], tagFilters: 'team!=vision' }, headers)),
    selectTags: await raw('metrics.find $select tags', MetricsApi.metricsFind({ executionIds: [id], $select: ['tags'] }, headers)),
    selectMetricsAndCustomInfo: await raw('metrics.find $select metrics,customInfo', MetricsApi.metricsFind({ executionIds: [id], $select: ['metrics', 'customInfo'] }, headers)),
    selectAll: await raw('metrics.find $select *', MetricsApi.metricsFind({ executionIds: [id], $select: ['*'] }, headers)),
    firstPage: await raw('metrics.find $top $skip 0', MetricsApi.metricsFind({ executionIds: [id], $top: 1, $skip: 0 }, headers)),
    secondPage: await raw('metrics.find $top $skip 1', MetricsApi.metricsFind({ executionIds: [id], $top: 1, $skip: 1 }, headers)),
  };

  // Delete, then nothing is found, then a second delete is a 404 the SDK surfaces as an error: once
  // parsed (as a caller sees it) and once as text (the exact bytes of the body).
  result.delete = await raw('metrics.delete', MetricsApi.metricsDelete({ executionId: id }, headers));
  result.afterDelete = await raw('metrics.find after delete', MetricsApi.metricsFind({ executionIds: [id] }, headers));
  result.deleteAgain = await failing('metrics.delete again', MetricsApi.metricsDelete({ executionId: id }, headers));
  result.deleteAgainText = await failing('metrics.delete again (text)', MetricsApi.metricsDelete({ executionId: id }, headers), { responseType: 'text' });
  return result;
}

try {
  const result = await main();
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
} catch (error) {
  const failure = httpFailure(error);
  process.stderr.write(`interop metrics flow failed: ${error?.stack ?? error}\n`);
  if (failure) {
    process.stderr.write(`last HTTP failure: ${failure.status} ${JSON.stringify(failure.body)}\n`);
  }
  process.exit(1);
}
