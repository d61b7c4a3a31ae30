// What the interop flows share: the resource group header, the overall deadline every wait is
// bounded by (INTEROP_TIMEOUT_SECONDS, default 90), and reading the HTTP answer out of the SDK's errors.

export const headers = { 'AI-Resource-Group': 'default' };
export const pollIntervalMs = 100;
const requestTimeoutMs = 15_000;
const deadline = Date.now() + 1000 * Number(process.env.INTEROP_TIMEOUT_SECONDS ?? 90);

export function remainingMs() {
  return deadline - Date.now();
}

/** Awaits a promise, but never longer than the request timeout or the overall deadline. */
export async function bounded(what, promise) {
  const limit = Math.max(1, Math.min(requestTimeoutMs, remainingMs()));
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

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The axios error inside the SDK's ErrorWithCause chain, if the request got an HTTP answer. */
export function axiosFailure(error) {
  for (let e = error; e; e = e.cause) {
    if (e.response?.status) {
      return e;
    }
  }
  return undefined;
}

/** The HTTP status and body of a failed SDK call. */
export function httpFailure(error) {
  const failure = axiosFailure(error);
  return failure ? { status: failure.response.status, body: failure.response.data } : undefined;
}

/**
 * The SDK fetches its OAuth token with a fixed 2 s timeout (@sap/xssec's default) and caches it. On a
 * busy machine the first fetch can miss that; so the flows start with a read-only call, retried (at
 * most 5 times) only while no HTTP answer came back, and every call after it uses the cached token.
 */
export async function warmUp() {
  const { ScenarioApi } = await import('@sap-ai-sdk/ai-api');
  let last;
  for (let attempt = 1; attempt <= 5 && remainingMs() > 0; attempt++) {
    try {
      await bounded('scenario.query (warm-up)', ScenarioApi.scenarioQuery(headers).execute());
      return attempt;
    } catch (error) {
      if (httpFailure(error)) {
        throw error;
      }
      last = error;
      process.stderr.write(`warm-up attempt ${attempt} failed: ${error?.message ?? error}\n`);
      await sleep(500);
    }
  }
  throw last ?? new Error('warm-up: no time left');
}
