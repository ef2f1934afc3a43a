using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Tessera.Generation;

namespace Tessera.Api.Batches;

/// <summary>
/// Works through the lines of batches in progress, in the background, oldest batch first. Each line is answered by the
/// same handler as an interactive request (so a batch line and a request give the same answer), at most
/// <see cref="BatchOptions.MaxConcurrentLines"/> at once and only while the model has room: interactive requests come
/// first. A line the server is too busy for (429, 503) waits and runs again; any other answer is its result, written
/// once. After a restart it goes on with the lines that have no result yet.
/// </summary>
internal sealed class BatchRunner(BatchStore store, Func<string, HttpContext, Task> execute, ITextGenerationService generation, BatchOptions options,
    TimeProvider time, ILogger logger)
{
    private readonly Dictionary<(string Batch, int Line), Task> _running = [];
    private readonly SemaphoreSlim _wake = new(0);
    private readonly Lock _gate = new();
    private DateTimeOffset _busyUntil;

    /// <summary>Runs until <paramref name="stopping"/> is cancelled; lines cut off by the stop run again next time.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await StepAsync(stopping).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                logger.LogError(e, "The batch runner failed a step; it tries again");
            }
            try
            {
                await _wake.WaitAsync(options.PollInterval, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        Task[] left;
        lock (_gate)
            left = [.. _running.Values];
        await Task.WhenAll(left).WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Something changed (a batch created or cancelled, a line done): look again now.</summary>
    public void Wake()
    {
        if (_wake.CurrentCount == 0)
            _wake.Release();
    }

    private async Task StepAsync(CancellationToken stopping)
    {
        foreach (var batch in store.ActiveBatches())
        {
            HashSet<int> mine;
            lock (_gate)
                mine = _running.Keys.Where(k => k.Batch == batch.Id).Select(k => k.Line).ToHashSet();
            if (batch.Status is "cancelling" or "finalizing")
            {
                if (mine.Count == 0)
                    await FinalizeAsync(batch, batch.Status == "cancelling" ? "cancelled" : "completed", stopping).ConfigureAwait(false);
                continue;
            }
            if (store.CountPending(batch.Id) == 0)
            {
                if (mine.Count == 0 && store.SetStatus(batch.Id, "finalizing", Now(), "in_progress"))
                    await FinalizeAsync(batch, "completed", stopping).ConfigureAwait(false);
                continue;
            }
            if (time.GetUtcNow() < _busyUntil)
                return;
            int free;
            lock (_gate)
                free = options.MaxConcurrentLines - _running.Count;
            if (free <= 0)
                return;
            foreach (var line in store.PendingLines(batch.Id, free, mine))
            {
                if (ModelOf(line.Body) is { } model && !generation.HasRoom(model))
                {
                    // Interactive requests first: take no session the model has no room for.
                    _busyUntil = time.GetUtcNow() + options.BusyBackoff;
                    return;
                }
                var key = (batch.Id, line.Line);
                lock (_gate)
                    _running[key] = RunLineAsync(batch, line, stopping);
            }
        }
    }

    private async Task RunLineAsync(StoredBatch batch, PendingLine line, CancellationToken stopping)
    {
        await Task.Yield();
        try
        {
            var http = new DefaultHttpContext();
            http.Request.Method = "POST";
            http.Request.Path = batch.Endpoint;
            http.Request.ContentType = "application/json";
            var body = Encoding.UTF8.GetBytes(line.Body);
            http.Request.Body = new MemoryStream(body);
            http.Request.ContentLength = body.Length;
            var response = new MemoryStream();
            http.Response.Body = response;
            http.RequestAborted = stopping;
            http.Items[BatchGrant.ItemKey] = new ApiKeyGrant(KeyId: null, Model: batch.Scope);
            await execute(batch.Endpoint, http).ConfigureAwait(false);
            if (stopping.IsCancellationRequested)
                return; // cut off by a stop: it runs again after the restart
            var status = http.Response.StatusCode;
            if (status is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable)
            {
                _busyUntil = time.GetUtcNow() + options.BusyBackoff;
                return;
            }
            JsonNode? answer;
            try
            {
                answer = JsonNode.Parse(response.ToArray());
            }
            catch (JsonException)
            {
                answer = JsonValue.Create(Encoding.UTF8.GetString(response.ToArray()));
            }
            var result = new JsonObject
            {
                ["id"] = BatchStore.NewId("batch_req_"),
                ["custom_id"] = line.CustomId,
                ["response"] = new JsonObject
                {
                    ["status_code"] = status,
                    ["request_id"] = "req_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12)),
                    ["body"] = answer,
                },
                ["error"] = null,
            };
            store.Finish(line.BatchId, line.Line, status == StatusCodes.Status200OK, result.ToJsonString());
        }
        catch (Exception e) when (!stopping.IsCancellationRequested)
        {
            logger.LogWarning(e, "Batch {Batch} line {Line} failed; it runs again", line.BatchId, line.Line);
            _busyUntil = time.GetUtcNow() + options.BusyBackoff;
        }
        finally
        {
            lock (_gate)
                _running.Remove((line.BatchId, line.Line));
            Wake();
        }
    }

    /// <summary>Writes the output and error files from the lines' results and ends the batch as <paramref name="final"/>.</summary>
    private async Task FinalizeAsync(StoredBatch batch, string final, CancellationToken stopping)
    {
        var output = await WriteResultsAsync(batch, "done", stopping).ConfigureAwait(false);
        var errors = await WriteResultsAsync(batch, "failed", stopping).ConfigureAwait(false);
        store.SetFiles(batch.Id, output, errors);
        store.SetStatus(batch.Id, final, Now(), "finalizing", "cancelling");
        logger.LogInformation("Batch {Batch} {Status}", batch.Id, final);
    }

    private async Task<string?> WriteResultsAsync(StoredBatch batch, string state, CancellationToken stopping)
    {
        var results = store.Results(batch.Id, state);
        if (results.Count == 0)
            return null;
        var id = BatchStore.NewId("file-");
        var lines = new MemoryStream();
        await using (var writer = new StreamWriter(lines, new System.Text.UTF8Encoding(false), leaveOpen: true))
        {
            foreach (var result in results)
                await writer.WriteAsync(result + "\n").ConfigureAwait(false);
        }
        lines.Position = 0;
        store.AddFile(new StoredFile(id, batch.Owner, "batch_output", $"{batch.Id}_{(state == "done" ? "output" : "error")}.jsonl", lines.Length, Now()));
        await store.WriteFileAsync(id, lines, stopping).ConfigureAwait(false);
        return id;
    }

    private static string? ModelOf(string body)
    {
        try
        {
            using var doc = JsonDocument.Parse(body);
            return doc.RootElement.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private long Now() => time.GetUtcNow().ToUnixTimeSeconds();
}

/// <summary>How a batch line is let through the handler: the grant its batch was created with, set in-process only.</summary>
internal static class BatchGrant
{
    public const string ItemKey = "tessera.batch-grant";
}
