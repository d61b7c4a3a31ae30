// Drives a running Runledger server with the official @datadog/datadog-api-client (v2.AgentObservabilityApi),
// as a user would: project -> dataset -> records -> experiment -> events -> list events, then the four
// delete endpoints (records/delete, experiments/delete, datasets/delete, projects/delete).
//
// Input (environment):
//   RUNLEDGER_URL             the server's base URL, e.g. http://127.0.0.1:5123 (the client's baseServer)
//   DD_API_KEY, DD_APP_KEY    the key pair (the client sends DD-API-KEY and DD-APPLICATION-KEY)
//   INTEROP_TIMEOUT_SECONDS   overall deadline (default 90); every call is bounded by it.
// Output: one JSON object on stdout with what the client returned; exit code 1 and the error on stderr
// on any failure.

import { client, v2 } from '@datadog/datadog-api-client';

const requestTimeoutMs = 15_000;
const deadline = Date.now() + 1000 * Number(process.env.INTEROP_TIMEOUT_SECONDS ?? 90);

/** Awaits a client call, but never longer than the request timeout or the overall deadline. */
async function bounded(what, promise) {
  const limit = Math.max(1, Math.min(requestTimeoutMs, deadline - Date.now()));
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${limit} ms`)), limit);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const operations = [
  'createLLMObsProject', 'listLLMObsProjects', 'deleteLLMObsProjects',
  'createLLMObsDataset', 'listLLMObsDatasets', 'deleteLLMObsDatasets',
  'createLLMObsDatasetRecords', 'listLLMObsDatasetRecords', 'deleteLLMObsDatasetRecords',
  'createLLMObsExperiment', 'listLLMObsExperiments', 'updateLLMObsExperiment', 'deleteLLMObsExperiments',
  'createLLMObsExperimentEvents', 'listLLMObsExperimentEvents', 'listLLMObsExperimentEventsV1', 'listLLMObsExperimentEventsV2',
];

const configuration = client.createConfiguration({
  baseServer: new client.BaseServerConfiguration(process.env.RUNLEDGER_URL, {}),
  authMethods: { apiKeyAuth: process.env.DD_API_KEY, appKeyAuth: process.env.DD_APP_KEY },
});
for (const operation of operations) {
  configuration.unstableOperations[`v2.${operation}`] = true;
}
const api = new v2.AgentObservabilityApi(configuration);

async function main() {
  const result = {};
  const suffix = Date.now().toString(36);

  const project = await bounded('createLLMObsProject', api.createLLMObsProject({
    body: { data: { type: 'projects', attributes: { name: `interop-${suffix}`, description: 'made by the Datadog client' } } },
  }));
  const projectId = project.data.id;
  result.project = project.data;

  const dataset = await bounded('createLLMObsDataset', api.createLLMObsDataset({
    projectId,
    body: { data: { type: 'datasets', attributes: { name: 'interop-set', description: 'questions', metadata: { team: 'qa' } } } },
  }));
  const datasetId = dataset.data.id;
  result.dataset = dataset.data;

  const appended = await bounded('createLLMObsDatasetRecords', api.createLLMObsDatasetRecords({
    projectId,
    datasetId,
    body: {
      data: {
        type: 'records',
        attributes: {
          records: [
            { input: { question: 'What is 2+2?' }, expectedOutput: { answer: '4' }, metadata: { level: 'easy' } },
            { input: { question: 'Capital of France?' }, expectedOutput: { answer: 'Paris' } },
            { input: { question: 'Largest planet?' }, expectedOutput: { answer: 'Jupiter' } },
          ],
        },
      },
    },
  }));
  const recordIds = appended.data[0].records.map((r) => r.id);
  result.recordIds = recordIds;

  const experiment = await bounded('createLLMObsExperiment', api.createLLMObsExperiment({
    body: {
      data: {
        type: 'experiments',
        attributes: {
          projectId,
          datasetId,
          name: 'interop-experiment',
          description: 'runs the questions',
          config: { model: 'small' },
          metadata: { commit: 'abc123' },
        },
      },
    },
  }));
  const experimentId = experiment.data.id;
  result.experiment = experiment.data;

  const now = Date.now();
  await bounded('createLLMObsExperimentEvents', api.createLLMObsExperimentEvents({
    experimentId,
    body: {
      data: {
        type: 'events',
        attributes: {
          spans: recordIds.map((id, i) => ({
            traceId: `trace-${i}`,
            spanId: `span-${i}`,
            projectId,
            datasetId,
            name: 'llm_call',
            startNs: now * 1_000_000 + i,
            duration: 1_500_000_000,
            status: i === 2 ? 'error' : 'ok',
            tags: [`record:${id}`],
            // Objects: the client cannot serialise a bare string as AnyValue (it matches several oneOf types).
            meta: { input: { question: `q${i}` }, output: { text: 'answer' }, expectedOutput: { answer: 'a' } },
          })),
          metrics: [
            ...recordIds.map((_, i) => ({
              spanId: `span-${i}`, metricType: 'score', timestampMs: now, label: 'faithfulness', scoreValue: 0.25 * (i + 1), assessment: 'pass',
            })),
            { spanId: 'span-0', metricType: 'boolean', timestampMs: now, label: 'exact', booleanValue: true },
          ],
        },
      },
    },
  }));

  const completed = await bounded('updateLLMObsExperiment', api.updateLLMObsExperiment({
    experimentId,
    body: { data: { type: 'experiments', attributes: { status: 'completed' } } },
  }));
  result.completed = completed.data;

  const v3 = await bounded('listLLMObsExperimentEvents', api.listLLMObsExperimentEvents({ experimentId, pageLimit: 2 }));
  const v3Next = await bounded('listLLMObsExperimentEvents (page 2)', api.listLLMObsExperimentEvents({ experimentId, pageLimit: 2, pageCursor: v3.meta.after }));
  const v1 = await bounded('listLLMObsExperimentEventsV1', api.listLLMObsExperimentEventsV1({ experimentId }));
  const v2Events = await bounded('listLLMObsExperimentEventsV2', api.listLLMObsExperimentEventsV2({ experimentId }));
  result.events = {
    v3Pages: [v3, v3Next].map((page) => ({
      spanIds: page.data.attributes.spans.map((s) => s.spanId),
      evalCounts: page.data.attributes.spans.map((s) => s.evalMetrics.length),
      firstScore: page.data.attributes.spans[0]?.evalMetrics[0]?.scoreValue ?? null,
      after: page.meta?.after ?? null,
    })),
    v1Count: v1.data.length,
    v1Type: v1.data[0].type,
    v2Type: v2Events.data.type,
    v2SpanCount: v2Events.data.attributes.spans.length,
  };

  // The four delete endpoints, in the order a cleanup would run them.
  await bounded('deleteLLMObsDatasetRecords', api.deleteLLMObsDatasetRecords({
    projectId, datasetId, body: { data: { type: 'records', attributes: { recordIds: [recordIds[0], 'no-such-record'] } } },
  }));
  const records = await bounded('listLLMObsDatasetRecords', api.listLLMObsDatasetRecords({ projectId, datasetId }));
  result.recordsAfterDelete = records.data.map((r) => r.id);

  await bounded('deleteLLMObsExperiments', api.deleteLLMObsExperiments({
    body: { data: { type: 'experiments', attributes: { experimentIds: [experimentId] } } },
  }));
  const live = await bounded('listLLMObsExperiments', api.listLLMObsExperiments({ filterProjectId: projectId }));
  const deleted = await bounded('listLLMObsExperiments (deleted)', api.listLLMObsExperiments({ filterProjectId: projectId, filterIsDeleted: true }));
  result.experimentsAfterDelete = { live: live.data.map((e) => e.id), deleted: deleted.data.map((e) => e.id), deletedAt: deleted.data[0]?.attributes?.deletedAt ?? null };

  await bounded('deleteLLMObsDatasets', api.deleteLLMObsDatasets({
    projectId, body: { data: { type: 'datasets', attributes: { datasetIds: [datasetId] } } },
  }));
  const datasets = await bounded('listLLMObsDatasets', api.listLLMObsDatasets({ projectId }));
  result.datasetsAfterDelete = datasets.data.map((d) => d.id);

  await bounded('deleteLLMObsProjects', api.deleteLLMObsProjects({
    body: { data: { type: 'projects', attributes: { projectIds: [projectId] } } },
  }));
  const projects = await bounded('listLLMObsProjects', api.listLLMObsProjects({ filterId: projectId }));
  result.projectsAfterDelete = projects.data.map((p) => p.id);
  return result;
}

try {
  const result = await main();
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exit(0);
} catch (error) {
  process.stderr.write(`interop flow failed: ${error?.stack ?? error}\n`);
  if (error?.code) {
    process.stderr.write(`last HTTP failure: ${error.code} ${JSON.stringify(error.body)}\n`);
  }
  process.exit(1);
}
