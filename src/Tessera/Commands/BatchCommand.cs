using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using Tessera.Cli.Bench;

namespace Tessera.Cli.Commands;

/// <summary>
/// <c>tessera batch run|status|cancel</c>: OpenAI's Batch API from the command line, with a progress bar. <c>run</c>
/// uploads a JSONL file, starts the batch, follows it, and writes the output and error files next to the input.
/// </summary>
internal static class BatchCommand
{
    public static Command Create()
    {
        var command = new Command("batch", "Run a JSONL file of requests as a batch job on a server or the pool (OpenAI's Batch API).");
        command.Subcommands.Add(Run());
        command.Subcommands.Add(Status());
        command.Subcommands.Add(Cancel());
        command.Subcommands.Add(Bench());
        return command;
    }

    private static (Option<string?> Url, Option<string?> Key, Option<string?> CaCert) ConnectionOptions() => (
        new Option<string?>("--url") { Description = "The API's base URL, e.g. https://127.0.0.1:7470/v1 (default: $TESSERA_API_URL)." },
        new Option<string?>("--api-key") { Description = "API key (default: $TESSERA_API_KEY)." },
        new Option<string?>("--cacert") { Description = "PEM certificate to trust for an https endpoint (a pool's ca.crt)." });

    private static HttpClient Connect(ParseResult result, (Option<string?> Url, Option<string?> Key, Option<string?> CaCert) o)
    {
        var baseUrl = result.GetValue(o.Url) ?? Environment.GetEnvironmentVariable("TESSERA_API_URL")
            ?? throw new ArgumentException("Give the endpoint with --url https://HOST:PORT/v1 (or set TESSERA_API_URL).");
        return ApiTokenSource.CreateClient(baseUrl, result.GetValue(o.Key) ?? Environment.GetEnvironmentVariable("TESSERA_API_KEY"), result.GetValue(o.CaCert));
    }

    private static Command Run()
    {
        var file = new Argument<string>("file") { Description = "JSONL: one request per line, either OpenAI's batch form ({custom_id, method, url, body}) or just the body." };
        var deployment = new Option<string?>("--deployment", "-d") { Description = "The model or deployment every line uses (sets each body's model)." };
        var endpoint = new Option<string>("--endpoint") { Description = "The endpoint of lines given as bodies only.", DefaultValueFactory = _ => "/v1/chat/completions" };
        var output = new Option<string?>("--out", "-o") { Description = "Where the answers go (default: FILE with .output.jsonl; errors in .errors.jsonl)." };
        var connection = ConnectionOptions();
        var command = new Command("run", "Upload FILE, run it as a batch, follow its progress and download the results.")
        {
            file, deployment, endpoint, output, connection.Url, connection.Key, connection.CaCert,
        };
        command.SetAction((result, cancellation) => CliErrors.RunAsync(async () =>
        {
            using var http = Connect(result, connection);
            var path = result.GetValue(file)!;
            var target = result.GetValue(endpoint)!;
            var content = Prepare(await File.ReadAllLinesAsync(path, cancellation).ConfigureAwait(false), result.GetValue(deployment), target);
            var console = DownloadProgress.ErrorConsole();

            using var form = new MultipartFormDataContent { { new StringContent("batch"), "purpose" } };
            var bytes = new ByteArrayContent(content);
            bytes.Headers.ContentType = new MediaTypeHeaderValue("application/jsonl");
            form.Add(bytes, "file", Path.GetFileName(path));
            var uploaded = await SendAsync(http, HttpMethod.Post, "files", form, cancellation).ConfigureAwait(false);
            var created = await SendAsync(http, HttpMethod.Post, "batches", Json(new JsonObject
            {
                ["input_file_id"] = uploaded["id"]!.GetValue<string>(),
                ["endpoint"] = target,
                ["completion_window"] = "24h",
            }), cancellation).ConfigureAwait(false);
            var id = created["id"]!.GetValue<string>();
            console.MarkupLine($"batch [bold]{id}[/]: {created["request_counts"]!["total"]} requests");
            var batch = await FollowAsync(http, console, created, cancellation).ConfigureAwait(false);

            var status = batch["status"]!.GetValue<string>();
            if (status == "failed")
            {
                foreach (var e in batch["errors"]?["data"]?.AsArray() ?? [])
                    console.MarkupLine($"[red]{Markup.Escape(e!["message"]!.GetValue<string>())}[/]");
                return 1;
            }
            var outPath = result.GetValue(output) ?? Path.ChangeExtension(path, ".output.jsonl");
            await DownloadAsync(http, batch["output_file_id"], outPath, cancellation).ConfigureAwait(false);
            var errorPath = Path.ChangeExtension(outPath, null).Replace(".output", "", StringComparison.Ordinal) + ".errors.jsonl";
            await DownloadAsync(http, batch["error_file_id"], errorPath, cancellation).ConfigureAwait(false);
            var counts = batch["request_counts"]!;
            console.MarkupLine($"{status}: {counts["completed"]} answered -> {Markup.Escape(outPath)}" +
                (counts["failed"]!.GetValue<int>() > 0 ? $", {counts["failed"]} refused -> {Markup.Escape(errorPath)}" : ""));
            return status == "completed" ? 0 : 1;
        }));
        return command;
    }

    private static Command Status()
    {
        var id = new Argument<string>("id") { Description = "The batch id (batch_...)." };
        var connection = ConnectionOptions();
        var command = new Command("status", "Show a batch's state and counts as JSON.") { id, connection.Url, connection.Key, connection.CaCert };
        command.SetAction((result, cancellation) => CliErrors.RunAsync(async () =>
        {
            using var http = Connect(result, connection);
            Console.WriteLine((await SendAsync(http, HttpMethod.Get, $"batches/{result.GetValue(id)}", null, cancellation).ConfigureAwait(false)).ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return 0;
        }));
        return command;
    }

    private static Command Cancel()
    {
        var id = new Argument<string>("id") { Description = "The batch id (batch_...)." };
        var connection = ConnectionOptions();
        var command = new Command("cancel", "Cancel a batch: lines running finish, no more start; what was done is in its output file.") { id, connection.Url, connection.Key, connection.CaCert };
        command.SetAction((result, cancellation) => CliErrors.RunAsync(async () =>
        {
            using var http = Connect(result, connection);
            var batch = await SendAsync(http, HttpMethod.Post, $"batches/{result.GetValue(id)}/cancel", null, cancellation).ConfigureAwait(false);
            Console.WriteLine($"{batch["id"]}: {batch["status"]}");
            return 0;
        }));
        return command;
    }

    private static Command Bench()
    {
        var deployment = new Option<string>("--deployment", "-d") { Description = "The model or deployment to measure.", Required = true };
        var lines = new Option<int>("--lines") { Description = "Short prompts in the batch.", DefaultValueFactory = _ => 10_000 };
        var sequential = new Option<int>("--sequential") { Description = "Of the same prompts, how many to send one at a time through the streaming API.", DefaultValueFactory = _ => 200 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens each answer may have.", DefaultValueFactory = _ => 8 };
        var connection = ConnectionOptions();
        var command = new Command("bench", "Lines per second of a batch of short prompts against the same prompts sent one at a time through the streaming API.")
        {
            deployment, lines, sequential, maxTokens, connection.Url, connection.Key, connection.CaCert,
        };
        command.SetAction((result, cancellation) => CliErrors.RunAsync(async () =>
        {
            using var http = Connect(result, connection);
            var model = result.GetValue(deployment)!;
            var max = Math.Max(1, result.GetValue(maxTokens));
            string Prompt(int i) => new JsonObject
            {
                ["model"] = model,
                ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = $"Write one short line about the number {i}." }),
                ["max_tokens"] = max,
                ["temperature"] = 0,
            }.ToJsonString();
            var console = DownloadProgress.ErrorConsole();

            // One at a time through the streaming API: read each stream to its end before the next request.
            var oneByOne = Math.Max(1, result.GetValue(sequential));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            for (var i = 0; i < oneByOne; i++)
            {
                var body = JsonNode.Parse(Prompt(i))!;
                body["stream"] = true;
                using var request = new HttpRequestMessage(HttpMethod.Post, "chat/completions") { Content = Json(body) };
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
                await EnsureAsync(response, cancellation).ConfigureAwait(false);
                await response.Content.CopyToAsync(Stream.Null, cancellation).ConfigureAwait(false);
            }
            var streamingRate = oneByOne / clock.Elapsed.TotalSeconds;
            console.MarkupLine($"one at a time: {oneByOne} requests in {clock.Elapsed.TotalSeconds:F1} s, {streamingRate:F1} per second");

            var count = Math.Max(1, result.GetValue(lines));
            var input = Prepare(Enumerable.Range(0, count).Select(Prompt), null, "/v1/chat/completions");
            using var form = new MultipartFormDataContent { { new StringContent("batch"), "purpose" }, { new ByteArrayContent(input), "file", "bench.jsonl" } };
            var uploaded = await SendAsync(http, HttpMethod.Post, "files", form, cancellation).ConfigureAwait(false);
            clock.Restart();
            var created = await SendAsync(http, HttpMethod.Post, "batches", Json(new JsonObject
            {
                ["input_file_id"] = uploaded["id"]!.GetValue<string>(),
                ["endpoint"] = "/v1/chat/completions",
                ["completion_window"] = "24h",
            }), cancellation).ConfigureAwait(false);
            var batch = await FollowAsync(http, console, created, cancellation).ConfigureAwait(false);
            var seconds = clock.Elapsed.TotalSeconds;
            var counts = batch["request_counts"]!;
            var batchRate = counts["completed"]!.GetValue<int>() / seconds;
            var table = new Table().Border(TableBorder.Rounded).AddColumns("way", "requests", "seconds", "per second");
            table.AddRow("one at a time, streaming", $"{oneByOne}", $"{oneByOne / streamingRate:F1}", $"{streamingRate:F1}");
            table.AddRow($"batch ({batch["status"]}, {counts["failed"]} refused)", $"{counts["completed"]}", $"{seconds:F1}", $"{batchRate:F1}");
            table.AddRow("batch / one at a time", "", "", $"{batchRate / streamingRate:F2}x");
            AnsiConsole.Write(table);
            return batch["status"]!.GetValue<string>() == "completed" && counts["failed"]!.GetValue<int>() == 0 ? 0 : 1;
        }));
        return command;
    }

    /// <summary>The upload: every line in OpenAI's batch form, bodies-only lines wrapped, the model set when asked.</summary>
    internal static byte[] Prepare(IEnumerable<string> lines, string? model, string endpoint)
    {
        var text = new StringBuilder();
        var number = 0;
        foreach (var line in lines)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            JsonObject request;
            try
            {
                request = JsonNode.Parse(line) as JsonObject ?? throw new JsonException("not an object");
            }
            catch (JsonException e)
            {
                throw new ArgumentException($"line {number} is not a JSON object: {e.Message}", e);
            }
            if (request["body"] is not JsonObject)
                request = new JsonObject { ["custom_id"] = $"line-{number}", ["method"] = "POST", ["url"] = endpoint, ["body"] = request };
            if (model is not null)
                request["body"]!["model"] = model;
            text.Append(request.ToJsonString()).Append('\n');
        }
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static async Task<JsonNode> FollowAsync(HttpClient http, IAnsiConsole console, JsonNode batch, CancellationToken cancellation)
    {
        var id = batch["id"]!.GetValue<string>();
        await console.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask("requests", maxValue: Math.Max(1, batch["request_counts"]!["total"]!.GetValue<int>()));
                while (batch["status"]!.GetValue<string>() is "validating" or "in_progress" or "finalizing" or "cancelling")
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), cancellation).ConfigureAwait(false);
                    batch = await SendAsync(http, HttpMethod.Get, $"batches/{id}", null, cancellation).ConfigureAwait(false);
                    var counts = batch["request_counts"]!;
                    task.Value = counts["completed"]!.GetValue<int>() + counts["failed"]!.GetValue<int>();
                }
                task.Value = task.MaxValue;
            }).ConfigureAwait(false);
        return batch;
    }

    private static async Task DownloadAsync(HttpClient http, JsonNode? fileId, string path, CancellationToken cancellation)
    {
        if (fileId is null)
            return;
        using var response = await http.GetAsync($"files/{fileId.GetValue<string>()}/content", HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
        await EnsureAsync(response, cancellation).ConfigureAwait(false);
        await using var target = File.Create(path);
        await response.Content.CopyToAsync(target, cancellation).ConfigureAwait(false);
    }

    private static StringContent Json(JsonNode body) => new(body.ToJsonString(), Encoding.UTF8, "application/json");

    private static async Task<JsonNode> SendAsync(HttpClient http, HttpMethod method, string path, HttpContent? content, CancellationToken cancellation)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await http.SendAsync(request, cancellation).ConfigureAwait(false);
        await EnsureAsync(response, cancellation).ConfigureAwait(false);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false))!;
    }

    private static async Task EnsureAsync(HttpResponseMessage response, CancellationToken cancellation)
    {
        if (response.IsSuccessStatusCode)
            return;
        var text = await response.Content.ReadAsStringAsync(cancellation).ConfigureAwait(false);
        throw new InvalidOperationException($"The server answered {(int)response.StatusCode}: {OpenAiErrorText.Of(text)}");
    }
}
