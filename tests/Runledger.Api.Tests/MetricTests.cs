using System.Net;
using System.Text.Json.Nodes;
using Dapper;
using Runledger.Api.Tests.Support;
using Runledger.Storage;
using Runledger.Storage.Metrics;

namespace Runledger.Api.Tests;

public abstract class MetricTests(ServerFixture fixture)
{
    private TestServer Server => fixture.Server;

    private static StringContent Patch(string json) => Http.Json(json, "application/merge-patch+json");

    /// <summary>A finished execution to hang metrics on.</summary>
    private static async Task<string> ExecutionAsync(HttpClient client)
    {
        var id = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Quick));
        await client.WaitForStatusAsync(id, "COMPLETED");
        return id;
    }

    private async Task<long> RowsAsync(string executionId)
    {
        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        return await connection.ExecuteScalarAsync<long>(
            "SELECT (SELECT COUNT(*) FROM metric_points WHERE resource_id IN (SELECT id FROM metric_resources WHERE execution_id = @executionId))" +
            " + (SELECT COUNT(*) FROM metric_attributes WHERE resource_id IN (SELECT id FROM metric_resources WHERE execution_id = @executionId))" +
            " + (SELECT COUNT(*) FROM metric_resources WHERE execution_id = @executionId)",
            new { executionId });
    }

    [Fact]
    public async Task Patch_PointsTagsCustomInfo_204ThenQueriedInOrderWithMergedAttributes()
    {
        using var client = Server.InGroup();
        var id = await ExecutionAsync(client);
        await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""
            {"executionId":"{{id}}",
             "metrics":[{"name":"loss","value":0.5,"timestamp":"2026-01-01T00:00:02Z","step":2},
                        {"name":"loss","value":0.9,"timestamp":"2026-01-01T00:00:01Z","step":1,"labels":[{"name":"split","value":"train"}]},
                        {"name":"acc","value":0.7,"timestamp":"2026-01-01T00:00:02Z","step":1}],
             "tags":[{"name":"team","value":"vision"},{"name":"stage","value":"dev"}],
             "customInfo":[{"name":"matrix","value":"[[1,2],[3,4]]"}]}
            """))).ExpectAsync(HttpStatusCode.NoContent);
        await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""
            {"executionId":"{{id}}","metrics":[{"name":"loss","value":0.25,"timestamp":"2026-01-01T00:00:03Z"}],
             "tags":[{"name":"stage","value":"prod"}]}
            """))).ExpectAsync(HttpStatusCode.NoContent);

        var body = await (await client.GetAsync($"/v2/lm/metrics?executionIds={id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(1, (int)body["count"]!);
        var resource = body["resources"]![0]!;
        Assert.Equal(id, (string?)resource["executionId"]);
        Http.AssertJson("""
            [{"name":"loss","value":0.9,"timestamp":"2026-01-01T00:00:01.000Z","step":1,"labels":[{"name":"split","value":"train"}]},
             {"name":"acc","value":0.7,"timestamp":"2026-01-01T00:00:02.000Z","step":1},
             {"name":"loss","value":0.5,"timestamp":"2026-01-01T00:00:02.000Z","step":2},
             {"name":"loss","value":0.25,"timestamp":"2026-01-01T00:00:03.000Z"}]
            """, resource["metrics"]!);
        Http.AssertJson("""[{"name":"stage","value":"prod"},{"name":"team","value":"vision"}]""", resource["tags"]!);
        Http.AssertJson("""[{"name":"matrix","value":"[[1,2],[3,4]]"}]""", resource["customInfo"]!);
    }

    [Fact]
    public async Task Patch_PointWithoutTimestamp_GetsServerTime()
    {
        using var client = Server.InGroup();
        var id = await ExecutionAsync(client);
        var before = TimeProvider.System.GetUtcNow().AddSeconds(-5);
        await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"loss","value":1}]}"""))).ExpectAsync(HttpStatusCode.NoContent);
        var body = await (await client.GetAsync($"/v2/lm/metrics?executionIds={id}")).ExpectAsync(HttpStatusCode.OK);
        var stamp = DateTimeOffset.Parse((string)body["resources"]![0]!["metrics"]![0]!["timestamp"]!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(stamp, before, before.AddMinutes(5));
    }

    [Fact]
    public async Task Patch_RepeatedAndDistinctLabelSets_EachPointStoredWithItsOwnLabels()
    {
        // The parser serialises each distinct label set once per request: every point must still
        // carry exactly its own (escaped names, non-ASCII, unknown members and [] included).
        using var client = Server.InGroup();
        var id = await ExecutionAsync(client);
        await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""
            {"executionId":"{{id}}","ignored":{"x":[1]},
             "metrics":[{"name":"lo\u0073s","value":1,"step":1,"labels":[{"name":"split","value":"train"}]},
                        {"name":"loss","value":2,"step":2,"labels":[{"name":"split","value":"test","extra":1}]},
                        {"name":"loss","value":3,"step":3,"labels":[{"name":"split","value":"train"}]},
                        {"name":"loss","value":4,"step":4,"labels":[]},
                        {"name":"loss","value":5,"step":5,"labels":[{"name":"split","value":"é<&"}]}],
             "customInfo":[{"name":"c","value":"1"}],"tags":[{"name":"t","value":"v"}]}
            """))).ExpectAsync(HttpStatusCode.NoContent);

        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        var rows = (await connection.QueryAsync<(string Name, long Step, string? Labels)>(
            "SELECT p.name, p.step, p.labels FROM metric_points p JOIN metric_resources r ON r.id = p.resource_id WHERE r.execution_id = @id ORDER BY p.step",
            new { id })).ToList();
        Assert.Equal(
            [("loss", 1L, """[{"name":"split","value":"train"}]"""), ("loss", 2L, """[{"name":"split","value":"test"}]"""),
             ("loss", 3L, """[{"name":"split","value":"train"}]"""), ("loss", 4L, null), ("loss", 5L, """[{"name":"split","value":"\u00E9\u003C\u0026"}]""")],
            rows);
        var attributes = (await connection.QueryAsync<(string Kind, string Name, string Value)>(
            "SELECT a.kind, a.name, a.value FROM metric_attributes a JOIN metric_resources r ON r.id = a.resource_id WHERE r.execution_id = @id ORDER BY a.kind",
            new { id })).ToList();
        Assert.Equal([("custom", "c", "1"), ("tag", "t", "v")], attributes);
    }

    [Theory]
    [InlineData("""{"name":"loss","value":1,"step":-1}""", "metrics[1].step", "metrics[1].step is -1; it must be an integer of 0 or more.")]
    [InlineData("""{"name":"bad name!","value":1}""", "metrics[1].name", "metrics[1].name 'bad name!' is invalid: use 1 to 64 letters, digits, '_' or '-'.")]
    [InlineData("""{"name":"loss"}""", "metrics[1].value", "metrics[1].value is required and must be a finite number.")]
    [InlineData("""{"name":"loss","value":1,"timestamp":"yesterday"}""", "metrics[1].timestamp", "metrics[1].timestamp 'yesterday' is not an RFC 3339 date-time such as 2026-11-23T15:00:00Z.")]
    [InlineData("""{"name":"loss","value":1,"labels":[{"name":"","value":"x"}]}""", "metrics[1].labels[0]", "metrics[1].labels[0].name must be 1 to 256 characters.")]
    [InlineData("""{"name":"loss","value":1,"labels":[{"name":"metrics.ai.sap.com/Other","value":"x"}]}""", "metrics[1].labels[0].name", "metrics[1].labels[0].name 'metrics.ai.sap.com/Other' uses the reserved prefix 'metrics.ai.sap.com/'; only 'metrics.ai.sap.com/Artifact.name' may be used.")]
    [InlineData("""{"name":"loss","value":1,"labels":[{"name":"split","value":"a\u0000b"}]}""", "metrics[1].labels[0]", "metrics[1].labels[0].value contains a NUL character (\\u0000), which cannot be stored; remove it.")]
    public async Task Patch_InvalidPoint_400NamesTheFieldAndNothingStored(string secondPoint, string field, string message)
    {
        using var client = Server.InGroup();
        var id = await ExecutionAsync(client);
        var response = await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"ok","value":1},{{secondPoint}}],"tags":[{"name":"t","value":"v"}]}"""));
        var body = await response.ExpectAsync(HttpStatusCode.BadRequest);
        var expected = new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["code"] = "InvalidMetrics",
                ["message"] = message,
                ["requestId"] = "{requestId}",
                ["target"] = "/metrics",
                ["details"] = new JsonArray(new JsonObject { ["code"] = "InvalidField", ["message"] = field }),
            },
        };
        Http.AssertJson(expected.ToJsonString(), body, response.RequestId());
        Assert.Equal(0, await RowsAsync(id));
    }

    [Fact]
    public async Task Patch_TagValueTooLongOrUnknownExecution_RejectedAndNothingStored()
    {
        using var client = Server.InGroup();
        var id = await ExecutionAsync(client);
        var tooLong = await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"a","value":1}],"tags":[{"name":"t","value":"{{new string('v', 257)}}"}]}"""))).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("tags[0].value must be 1 to 256 characters.", (string?)tooLong["error"]!["message"]);
        var unknown = await (await client.PatchAsync("/v2/lm/metrics", Patch("""{"executionId":"0000ffff0000","metrics":[{"name":"a","value":1}]}"""))).ExpectAsync(HttpStatusCode.NotFound);
        Assert.Equal("Execution '0000ffff0000' does not exist in resource group 'default' (or is being deleted); nothing was stored.", (string?)unknown["error"]!["message"]);
        Assert.Equal(0, await RowsAsync(id));
        await (await client.PatchAsync("/v2/lm/metrics", Http.Json("{}", "text/plain"))).ExpectAsync(HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task Patch_ConcurrentBatchesOfSeveralExecutions_EachAnsweredOnItsOwnAndEveryPointStored()
    {
        // Concurrent batches are written together (group commit); one batch for an unknown
        // execution must fail alone, and every other batch must be stored exactly once.
        using var client = Server.InGroup();
        var ids = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            ids.Add(await ExecutionAsync(client));
        }

        const int batchesPerExecution = 8;
        const int pointsPerBatch = 250;
        string Body(string id, int batch) =>
            $$"""{"executionId":"{{id}}","metrics":[{{string.Join(',', Enumerable.Range(0, pointsPerBatch).Select(p => $$"""{"name":"loss","value":{{p}},"step":{{(batch * pointsPerBatch) + p}}}"""))}}],"tags":[{"name":"last","value":"{{batch}}"}]}""";
        var requests = ids.SelectMany(id => Enumerable.Range(0, batchesPerExecution).Select(b => (Id: id, Body: Body(id, b))))
            .Append((Id: "0000ffff0001", Body: Body("0000ffff0001", 0)))
            .ToList();
        var responses = await Task.WhenAll(requests.Select(r => client.PatchAsync("/v2/lm/metrics", Patch(r.Body))));

        for (var i = 0; i < requests.Count; i++)
        {
            Assert.Equal(requests[i].Id == "0000ffff0001" ? HttpStatusCode.NotFound : HttpStatusCode.NoContent, responses[i].StatusCode);
        }

        var body = await (await client.GetAsync($"/v2/lm/metrics?executionIds={string.Join(',', ids)}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(3, (int)body["count"]!);
        foreach (var resource in body["resources"]!.AsArray())
        {
            var steps = resource!["metrics"]!.AsArray().Select(m => (long)m!["step"]!).Order().ToList();
            Assert.Equal(Enumerable.Range(0, batchesPerExecution * pointsPerBatch).Select(s => (long)s), steps);
            Assert.Single(resource["tags"]!.AsArray());
        }

        await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
        Assert.Equal(0, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM metric_resources WHERE execution_id = '0000ffff0001'"));
    }

    [Fact]
    public async Task Patch_MetricsMarkedDeletingWhileTheBatchIsWritten_ThatBatchAloneRefusedAndNothingOfItStored()
    {
        using var client = Server.InGroup();
        var racing = await ExecutionAsync(client);
        var other = await ExecutionAsync(client);
        await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{racing}}","metrics":[{"name":"m","value":1},{"name":"m","value":2}]}"""))).ExpectAsync(HttpStatusCode.NoContent);
        var database = Server.Service<IDatabase>();
        await using var connection = await database.OpenAsync(CancellationToken.None);
        var resource = await connection.ExecuteScalarAsync<string>("SELECT id FROM metric_resources WHERE execution_id = @racing", new { racing });
        const string markSql = "UPDATE metric_resources SET deleting_job_id = 'race-test' WHERE id = @resource";
        var late = $$"""{"executionId":"{{racing}}","metrics":[{"name":"m","value":3},{"name":"m","value":4},{"name":"m","value":5}],"tags":[{"name":"t","value":"v"}]}""";
        var unaffected = $$"""{"executionId":"{{other}}","metrics":[{"name":"m","value":6}]}""";
        HttpResponseMessage lateResponse, otherResponse;
        if (Server.Provider == Provider.Postgres)
        {
            // Interleave exactly as a concurrent DELETE can: the batch finds the metric resource
            // live, then waits for its row (held here FOR SHARE) while the resource is marked.
            await using var transaction = await database.BeginWriteAsync(connection, CancellationToken.None);
            await connection.ExecuteAsync("SELECT id FROM metric_resources WHERE id = @resource FOR SHARE", new { resource }, transaction);
            var pid = await connection.ExecuteScalarAsync<int>("SELECT pg_backend_pid()", transaction: transaction);
            var lateTask = client.PatchAsync("/v2/lm/metrics", Patch(late));
            await WaitUntilBlockedByAsync(pid);
            var otherTask = client.PatchAsync("/v2/lm/metrics", Patch(unaffected));
            await connection.ExecuteAsync(markSql, new { resource }, transaction);
            await transaction.CommitAsync();
            (lateResponse, otherResponse) = (await lateTask.WaitAsync(TimeSpan.FromSeconds(30)), await otherTask.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        else
        {
            // One writer at a time: the mark is wholly before the batch, which logs into a new resource.
            await connection.ExecuteAsync(markSql, new { resource });
            var responses = await Task.WhenAll(client.PatchAsync("/v2/lm/metrics", Patch(late)), client.PatchAsync("/v2/lm/metrics", Patch(unaffected))).WaitAsync(TimeSpan.FromSeconds(30));
            (lateResponse, otherResponse) = (responses[0], responses[1]);
        }

        await otherResponse.ExpectAsync(HttpStatusCode.NoContent);
        var others = await (await client.GetAsync($"/v2/lm/metrics?executionIds={other}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal([6.0], others["resources"]![0]!["metrics"]!.AsArray().Select(m => (double)m!["value"]!));
        Assert.Equal(2, await connection.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM metric_points WHERE resource_id = @resource", new { resource }));
        var after = await (await client.GetAsync($"/v2/lm/metrics?executionIds={racing}")).ExpectAsync(HttpStatusCode.OK);
        if (Server.Provider == Provider.Postgres)
        {
            var refused = await lateResponse.ExpectAsync(HttpStatusCode.NotFound);
            Assert.Equal($"Execution '{racing}' does not exist in resource group 'default' (or is being deleted); nothing was stored.", (string?)refused["error"]!["message"]);
            Http.AssertJson("""{"count":0,"resources":[]}""", after);
            Assert.Equal(3, await RowsAsync(racing)); // the two old points and their (deleting) resource
        }
        else
        {
            await lateResponse.ExpectAsync(HttpStatusCode.NoContent);
            Assert.Equal([3.0, 4.0, 5.0], after["resources"]![0]!["metrics"]!.AsArray().Select(m => (double)m!["value"]!));
        }
    }

    [Fact]
    public async Task Patch_OneBatchOfAGroupFailsInTheDatabase_OnlyItFailsAndTheOthersAreStored()
    {
        // A trigger makes the store reject one batch's tag, as a database error mid-group would.
        using var client = Server.InGroup();
        var ids = new List<string> { await ExecutionAsync(client), await ExecutionAsync(client) };
        var failing = await ExecutionAsync(client);
        var database = Server.Service<IDatabase>();
        await using var connection = await database.OpenAsync(CancellationToken.None);
        var postgres = Server.Provider == Provider.Postgres;
        await connection.ExecuteAsync(postgres
            ? """
              CREATE FUNCTION metric_test_boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.value = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$;
              CREATE TRIGGER metric_test_boom BEFORE INSERT ON metric_attributes FOR EACH ROW EXECUTE FUNCTION metric_test_boom();
              """
            : "CREATE TRIGGER metric_test_boom BEFORE INSERT ON metric_attributes WHEN NEW.value = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END");
        try
        {
            string Body(string id, int batch, string tag) =>
                $$"""{"executionId":"{{id}}","metrics":[{{string.Join(',', Enumerable.Range(0, 100).Select(p => $$"""{"name":"loss","value":{{p}},"step":{{(batch * 100) + p}}}"""))}}],"tags":[{"name":"t","value":"{{tag}}"}]}""";
            var requests = ids.SelectMany(id => new[] { (Id: id, Body: Body(id, 0, "ok")), (Id: id, Body: Body(id, 1, "ok")) })
                .Append((Id: failing, Body: Body(failing, 0, "boom")))
                .ToList();
            Task<HttpResponseMessage[]> sending;
            if (postgres)
            {
                sending = Task.WhenAll(requests.Select(r => client.PatchAsync("/v2/lm/metrics", Patch(r.Body))));
            }
            else
            {
                // Holding the write turn until every batch is queued makes them ONE group.
                var store = (MetricStore)Server.Service<IMetricStore>();
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                using (await database.EnterWriteQueueAsync(timeout.Token))
                {
                    sending = Task.WhenAll(requests.Select(r => client.PatchAsync("/v2/lm/metrics", Patch(r.Body))));
                    while (store.QueuedBatches < requests.Count)
                    {
                        await Task.Delay(10, timeout.Token);
                    }
                }
            }

            var responses = await sending.WaitAsync(TimeSpan.FromSeconds(60));
            for (var i = 0; i < requests.Count; i++)
            {
                await responses[i].ExpectAsync(requests[i].Id == failing ? HttpStatusCode.InternalServerError : HttpStatusCode.NoContent);
            }

            var body = await (await client.GetAsync($"/v2/lm/metrics?executionIds={string.Join(',', ids)}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal(2, (int)body["count"]!);
            foreach (var resource in body["resources"]!.AsArray())
            {
                Assert.Equal(Enumerable.Range(0, 200).Select(s => (long)s), resource!["metrics"]!.AsArray().Select(m => (long)m!["step"]!).Order());
            }

            Assert.Equal(0, await RowsAsync(failing));
        }
        finally
        {
            await connection.ExecuteAsync(postgres ? "DROP TRIGGER metric_test_boom ON metric_attributes; DROP FUNCTION metric_test_boom()" : "DROP TRIGGER metric_test_boom");
        }
    }

    /// <summary>PostgreSQL: until some backend waits for a lock held by <paramref name="pid"/>.</summary>
    private async Task WaitUntilBlockedByAsync(int pid)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var probe = await Server.Service<IDatabase>().OpenAsync(timeout.Token);
        while (await probe.ExecuteScalarAsync<long>(new CommandDefinition("SELECT COUNT(*) FROM pg_stat_activity WHERE @pid = ANY(pg_blocking_pids(pid))", new { pid }, cancellationToken: timeout.Token)) == 0)
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    [Fact]
    public async Task Find_ByIdsFilterTagFiltersSelectAndPaging()
    {
        using var client = Server.InGroup();
        var a = await ExecutionAsync(client);
        var b = await ExecutionAsync(client);
        var c = await ExecutionAsync(client);
        foreach (var (id, tags) in new[] { (a, """[{"name":"team","value":"x,y"},{"name":"gpu","value":"a100"}]"""), (b, """[{"name":"team","value":"z"}]"""), (c, "[]") })
        {
            await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"m","value":1}],"tags":{{tags}}}"""))).ExpectAsync(HttpStatusCode.NoContent);
        }

        async Task<List<string>> Ids(string query)
        {
            var body = await (await client.GetAsync("/v2/lm/metrics" + query)).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal(body["resources"]!.AsArray().Count, (int)body["count"]!);
            return body["resources"]!.AsArray().Select(r => (string)r!["executionId"]!).ToList();
        }

        Assert.Equal([a, b, c], await Ids($"?executionIds={a},{b},{c}"));
        Assert.Equal([a, b], await Ids($"?executionIds={a}&executionIds={b}"));
        Assert.Equal([b], await Ids($"?$filter=executionId eq '{b}'"));
        Assert.Equal([a, c], await Ids($"?$filter=executionId in ('{a}', '{c}')"));
        Assert.Equal([a], await Ids($"?executionIds={a},{b},{c}&tagFilters=team=x%2Cy"));
        Assert.Equal([b, c], await Ids($"?executionIds={a},{b},{c}&tagFilters=team!=x%2Cy"));
        Assert.Equal([a, b], await Ids($"?executionIds={a},{b},{c}&tagFilters=team"));
        Assert.Equal([a], await Ids($"?executionIds={a},{b},{c}&tagFilters=team,gpu=a100"));
        Assert.Equal([b], await Ids($"?executionIds={a},{b},{c}&$top=1&$skip=1"));

        var tagsOnly = await (await client.GetAsync($"/v2/lm/metrics?executionIds={b}&$select=tags")).ExpectAsync(HttpStatusCode.OK);
        var resource = tagsOnly["resources"]![0]!.AsObject();
        Assert.True(resource.ContainsKey("tags"));
        Assert.False(resource.ContainsKey("metrics"));
        Assert.False(resource.ContainsKey("customInfo"));
        var everything = await (await client.GetAsync($"/v2/lm/metrics?executionIds={b}&$select=*")).ExpectAsync(HttpStatusCode.OK);
        Assert.True(everything["resources"]![0]!.AsObject().ContainsKey("metrics"));

        var neither = await (await client.GetAsync("/v2/lm/metrics")).ExpectAsync(HttpStatusCode.BadRequest);
        Assert.Equal("Either executionIds or $filter is required: e.g. ?executionIds=<id>[,<id>…] (up to 10) or ?$filter=executionId eq '<id>'.", (string?)neither["error"]!["message"]);
        var eleven = string.Join(',', Enumerable.Range(0, 11).Select(i => $"exec{i:D4}"));
        await (await client.GetAsync($"/v2/lm/metrics?executionIds={eleven}")).ExpectAsync(HttpStatusCode.BadRequest);
        await (await client.GetAsync($"/v2/lm/metrics?$filter=executionId gt '{a}'")).ExpectAsync(HttpStatusCode.BadRequest);
        await (await client.GetAsync($"/v2/lm/metrics?executionIds={a}&$select=labels")).ExpectAsync(HttpStatusCode.BadRequest);
        var tooMany = string.Join(',', Enumerable.Range(0, 101).Select(i => $"t{i}"));
        await (await client.GetAsync($"/v2/lm/metrics?executionIds={a}&tagFilters={tooMany}")).ExpectAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Delete_ThenQueryEmptyThenSecondDelete404WithExactBody()
    {
        using var client = Server.InGroup();
        var id = await ExecutionAsync(client);
        await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"m","value":1},{"name":"m","value":2}],"tags":[{"name":"t","value":"v"}],"customInfo":[{"name":"c","value":"v"}]}"""))).ExpectAsync(HttpStatusCode.NoContent);

        var response = await client.DeleteAsync($"/v2/lm/metrics?executionId={id}");
        Http.AssertJson($$"""{"id":"{{id}}","message":"Metric Resource was successfully deleted"}""", await response.ExpectAsync(HttpStatusCode.OK));
        var after = await (await client.GetAsync($"/v2/lm/metrics?executionIds={id}")).ExpectAsync(HttpStatusCode.OK);
        Http.AssertJson("""{"count":0,"resources":[]}""", after);

        var again = await client.DeleteAsync($"/v2/lm/metrics?executionId={id}");
        Http.AssertJson(
            """{"error":{"code":"NotFound","message":"Metrics was not found.","requestId":"{requestId}","target":"/metrics","details":[{"code":"NotFound","message":"Empty result set."}]}}""",
            await again.ExpectAsync(HttpStatusCode.NotFound), again.RequestId());

        var job = await Server.WaitForJobAsync(response.JobId());
        Http.AssertJson("""{"metric_points":2,"metric_attributes":2,"metrics":1}""", job["removed"]!);
        Assert.Equal(0, await RowsAsync(id));

        // The execution stays and can log again.
        await client.WaitForStatusAsync(id, "COMPLETED", timeoutSeconds: 1);
        await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"m","value":3}]}"""))).ExpectAsync(HttpStatusCode.NoContent);
        var fresh = await (await client.GetAsync($"/v2/lm/metrics?executionIds={id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Equal(3.0, (double)fresh["resources"]![0]!["metrics"]![0]!["value"]!);
        await (await client.DeleteAsync("/v2/lm/metrics")).ExpectAsync(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Delete_ExecutionIdsForm_DeletesEach()
    {
        using var client = Server.InGroup();
        var a = await ExecutionAsync(client);
        var b = await ExecutionAsync(client);
        foreach (var id in new[] { a, b })
        {
            await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"m","value":1}]}"""))).ExpectAsync(HttpStatusCode.NoContent);
        }

        var response = await client.DeleteAsync($"/v2/lm/metrics?executionIds={a},{b},0000dddd0000");
        var body = await response.ExpectAsync(HttpStatusCode.OK);
        Assert.Equal($"{a},{b}", (string?)body["id"]);
        Assert.Equal(2, response.Headers.GetValues("Runledger-Deletion-Job").Single().Split(',').Length);
        Http.AssertJson("""{"count":0,"resources":[]}""", await (await client.GetAsync($"/v2/lm/metrics?executionIds={a},{b}")).ExpectAsync(HttpStatusCode.OK));
    }

    [Fact]
    public async Task Delete_ExecutionIdsWithOneUnderLegalHold_412AndNothingDeleted()
    {
        using var client = Server.InGroup();
        var a = await ExecutionAsync(client);
        var b = await ExecutionAsync(client);
        foreach (var id in new[] { a, b })
        {
            await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"m","value":1},{"name":"m","value":2}]}"""))).ExpectAsync(HttpStatusCode.NoContent);
        }

        await (await Server.Admin.PutAsync($"/runledger/v1/holds/execution/{b}?scope=default", Http.Json("""{"reason":"case 4712"}"""))).ExpectAsync(HttpStatusCode.Created);
        try
        {
            var refused = await (await client.DeleteAsync($"/v2/lm/metrics?executionIds={a},{b}")).ExpectAsync(HttpStatusCode.PreconditionFailed);
            Assert.Equal("LegalHold", (string?)refused["error"]!["code"]);
            Assert.Contains($"the execution '{b}' is under legal hold (reason: case 4712)", (string?)refused["error"]!["message"], StringComparison.Ordinal);

            // Nothing was marked: both are still readable, and no deletion job was written.
            var both = await (await client.GetAsync($"/v2/lm/metrics?executionIds={a},{b}")).ExpectAsync(HttpStatusCode.OK);
            Assert.Equal(2, (int)both["count"]!);
            Assert.All(both["resources"]!.AsArray(), r => Assert.Equal(2, r!["metrics"]!.AsArray().Count));
            await using var connection = await Server.Service<IDatabase>().OpenAsync(CancellationToken.None);
            Assert.Equal(0, await connection.ExecuteScalarAsync<long>(
                "SELECT COUNT(*) FROM deletion_jobs WHERE target_id IN (SELECT id FROM metric_resources WHERE execution_id IN (@a, @b))", new { a, b }));
            Assert.Equal(6, await RowsAsync(a) + await RowsAsync(b));
        }
        finally
        {
            await (await Server.Admin.DeleteAsync($"/runledger/v1/holds/execution/{b}")).ExpectAsync(HttpStatusCode.NoContent);
        }

        // Cleared: the same request deletes both.
        var response = await client.DeleteAsync($"/v2/lm/metrics?executionIds={a},{b}");
        Assert.Equal($"{a},{b}", (string?)(await response.ExpectAsync(HttpStatusCode.OK))["id"]);
    }

    [Fact]
    public async Task ExecutionDelete_CascadesToItsMetrics()
    {
        using var client = Server.InGroup();
        var id = await ExecutionAsync(client);
        await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"m","value":1},{"name":"m","value":2},{"name":"m","value":3}],"tags":[{"name":"t","value":"v"}]}"""))).ExpectAsync(HttpStatusCode.NoContent);
        var response = await client.DeleteAsync($"/v2/lm/executions/{id}");
        await response.ExpectAsync(HttpStatusCode.Accepted);

        // Hidden at once, logging to it is refused, then everything is reclaimed.
        Http.AssertJson("""{"count":0,"resources":[]}""", await (await client.GetAsync($"/v2/lm/metrics?executionIds={id}")).ExpectAsync(HttpStatusCode.OK));
        await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"m","value":4}]}"""))).ExpectAsync(HttpStatusCode.NotFound);
        var job = await Server.WaitForJobAsync(response.JobId());
        Assert.Equal(3, (long)job["removed"]!["metric_points"]!);
        Assert.Equal(0, await RowsAsync(id));
    }

    [Fact]
    public async Task ResourceGroupDelete_CascadesToMetrics()
    {
        var group = "met-" + Guid.NewGuid().ToString("N")[..10];
        await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + group + "\"}"))).ExpectAsync(HttpStatusCode.Accepted);
        using var client = Server.InGroup(group);
        var id = await ExecutionAsync(client);
        await (await client.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"m","value":1}],"customInfo":[{"name":"c","value":"v"}]}"""))).ExpectAsync(HttpStatusCode.NoContent);
        var response = await Server.Admin.DeleteAsync($"/v2/admin/resourceGroups/{group}");
        await response.ExpectAsync(HttpStatusCode.Accepted);
        var job = await Server.WaitForJobAsync(response.JobId());
        Assert.Equal(1, (long)job["removed"]!["metric_points"]!);
        Assert.Equal(1, (long)job["removed"]!["metric_resources"]!);
        Assert.Equal(0, await RowsAsync(id));
    }

    [Fact]
    public async Task Isolation_GroupBCannotReadOrDeleteGroupAsMetrics()
    {
        var groupB = "metb-" + Guid.NewGuid().ToString("N")[..10];
        await (await Server.Admin.PostAsync("/v2/admin/resourceGroups", Http.Json("{\"resourceGroupId\":\"" + groupB + "\"}"))).ExpectAsync(HttpStatusCode.Accepted);
        using var a = Server.InGroup();
        using var b = Server.InGroup(groupB);
        var id = await ExecutionAsync(a);
        await (await a.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"m","value":1}]}"""))).ExpectAsync(HttpStatusCode.NoContent);

        Http.AssertJson("""{"count":0,"resources":[]}""", await (await b.GetAsync($"/v2/lm/metrics?executionIds={id}")).ExpectAsync(HttpStatusCode.OK));
        await (await b.DeleteAsync($"/v2/lm/metrics?executionId={id}")).ExpectAsync(HttpStatusCode.NotFound);
        await (await b.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{id}}","metrics":[{"name":"m","value":2}]}"""))).ExpectAsync(HttpStatusCode.NotFound);
        var still = await (await a.GetAsync($"/v2/lm/metrics?executionIds={id}")).ExpectAsync(HttpStatusCode.OK);
        Assert.Single(still["resources"]![0]!["metrics"]!.AsArray());
    }

    [Fact]
    public async Task ExecutionToken_LogsToItsOwnExecutionOnly()
    {
        using var client = Server.InGroup();
        var own = await client.StartExecutionAsync(await client.CreateConfigurationAsync(Templates.Environment));
        await client.WaitForStatusAsync(own, "COMPLETED");
        var other = await ExecutionAsync(client);
        var token = (await client.LogMessagesAsync(own)).Single(l => l.StartsWith("token=", StringComparison.Ordinal))["token=".Length..];
        using var process = Server.NewClient(token);
        process.DefaultRequestHeaders.Add("AI-Resource-Group", "default");

        await (await process.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{own}}","metrics":[{"name":"m","value":1}]}"""))).ExpectAsync(HttpStatusCode.NoContent);
        var refused = await (await process.PatchAsync("/v2/lm/metrics", Patch($$"""{"executionId":"{{other}}","metrics":[{"name":"m","value":1}]}"""))).ExpectAsync(HttpStatusCode.Forbidden);
        Assert.Equal($"This token belongs to execution '{own}' and may only log that execution's metrics, not those of '{other}' in 'default'.", (string?)refused["error"]!["message"]);
        await (await process.GetAsync($"/v2/lm/metrics?executionIds={own}")).ExpectAsync(HttpStatusCode.Forbidden);
        await (await process.DeleteAsync($"/v2/lm/metrics?executionId={own}")).ExpectAsync(HttpStatusCode.Forbidden);
        Assert.Equal(0, await RowsAsync(other));
    }
}

public sealed class MetricTestsOnSqlite(SqliteRunnerServer fixture) : MetricTests(fixture), IClassFixture<SqliteRunnerServer>;

public sealed class MetricTestsOnPostgres(PostgresRunnerServer fixture) : MetricTests(fixture), IClassFixture<PostgresRunnerServer>;
