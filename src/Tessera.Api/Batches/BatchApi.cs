using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Tessera.Api.Batches;

/// <summary>
/// OpenAI's Files and Batch endpoints: upload a JSONL file of requests, start a batch over it, follow its progress,
/// cancel it, and download the output and error files. A key sees only the files and batches it created.
/// </summary>
internal sealed class BatchApi(BatchStore store, BatchRunner runner, BatchOptions options, TimeProvider time)
{
    /// <summary>The endpoints a batch may target.</summary>
    public static readonly string[] Endpoints = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"];

    private readonly Lock _uploads = new();

    public async Task UploadAsync(HttpContext http, ApiKeyGrant grant)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = options.MaxFileBytes + (1 << 20);
        if (!http.Request.HasFormContentType)
            throw OpenAiError.Invalid("Upload a file as multipart/form-data with the fields 'file' and 'purpose'.", "file");
        var form = await http.Request.ReadFormAsync(new FormOptions { MultipartBodyLengthLimit = options.MaxFileBytes + (1 << 20) }, http.RequestAborted).ConfigureAwait(false);
        var purpose = form["purpose"].ToString();
        if (purpose != "batch")
            throw OpenAiError.Invalid($"purpose must be 'batch' (this server keeps files for batches only), got '{purpose}'.", "purpose");
        var file = form.Files.GetFile("file") ?? throw OpenAiError.Invalid("The form has no 'file' field.", "file");
        if (file.Length > options.MaxFileBytes)
            throw OpenAiError.Invalid($"The file is {file.Length} bytes; files may hold at most {options.MaxFileBytes}.", "file");
        var id = BatchStore.NewId("file-");
        lock (_uploads)
        {
            if (store.TotalFileBytes() + file.Length > options.MaxTotalBytes)
                throw new OpenAiError(HttpStatusCode.InsufficientStorage, $"Stored files would pass this server's limit of {options.MaxTotalBytes} bytes; delete files you no longer need (DELETE /v1/files/ID).", "invalid_request_error");
            // Reserve the bytes now so two uploads at once cannot both pass the limit.
            store.AddFile(new StoredFile(id, grant.KeyId, purpose, Path.GetFileName(file.FileName), file.Length, Now()));
        }
        try
        {
            await using var source = file.OpenReadStream();
            await store.WriteFileAsync(id, source, http.RequestAborted).ConfigureAwait(false);
        }
        catch
        {
            store.DeleteFile(id);
            throw;
        }
        await WriteAsync(http, FileObject(store.FindFile(id)!)).ConfigureAwait(false);
    }

    public Task ListFilesAsync(HttpContext http, ApiKeyGrant grant) =>
        WriteAsync(http, List(store.ListFiles(grant.KeyId).Select(FileObject)));

    public Task GetFileAsync(HttpContext http, ApiKeyGrant grant) => WriteAsync(http, FileObject(OwnFile(http, grant)));

    public async Task FileContentAsync(HttpContext http, ApiKeyGrant grant)
    {
        var file = OwnFile(http, grant);
        var path = ContentPath(file); // before any header: a missing file is answered as an error, not as a short body
        http.Response.ContentType = "application/jsonl";
        http.Response.ContentLength = file.Bytes;
        await http.Response.SendFileAsync(path, http.RequestAborted).ConfigureAwait(false);
    }

    private string ContentPath(StoredFile file) => store.ContentPath(file)
        ?? throw new OpenAiError(HttpStatusCode.Gone, $"The bytes of file {file.Id} are gone from the server's content store (removed by hand?); delete the file and upload it again.", "invalid_request_error");

    public Task DeleteFileAsync(HttpContext http, ApiKeyGrant grant)
    {
        var file = OwnFile(http, grant);
        store.DeleteFile(file.Id);
        return WriteAsync(http, new JsonObject { ["id"] = file.Id, ["object"] = "file", ["deleted"] = true });
    }

    public async Task CreateBatchAsync(HttpContext http, ApiKeyGrant grant, JsonElement body)
    {
        string Required(string name) => body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s
            ? s : throw OpenAiError.Invalid($"{name} is required and must be a string.", name);
        var inputId = Required("input_file_id");
        var endpoint = Required("endpoint");
        var window = Required("completion_window");
        if (!Endpoints.Contains(endpoint))
            throw OpenAiError.Invalid($"endpoint must be one of {string.Join(", ", Endpoints)}, got '{endpoint}'.", "endpoint");
        if (window != "24h")
            throw OpenAiError.Invalid("completion_window must be '24h'.", "completion_window");
        string? metadata = null;
        if (body.TryGetProperty("metadata", out var meta) && meta.ValueKind != JsonValueKind.Null)
        {
            if (meta.ValueKind != JsonValueKind.Object || meta.EnumerateObject().Count() > 16 || meta.EnumerateObject().Any(p => p.Value.ValueKind != JsonValueKind.String))
                throw OpenAiError.Invalid("metadata must be an object of at most 16 string values.", "metadata");
            metadata = meta.GetRawText();
        }
        var input = store.FindFile(inputId) is { } f && f.Owner == grant.KeyId && f.Purpose == "batch"
            ? f : throw new OpenAiError(HttpStatusCode.NotFound, $"No file with id '{inputId}' (uploaded with purpose 'batch').", "invalid_request_error", "input_file_id");

        var (lines, errors) = await ReadLinesAsync(ContentPath(input), endpoint, grant, http.RequestAborted).ConfigureAwait(false);
        var now = Now();
        var failed = errors.Count > 0;
        var batch = new StoredBatch(BatchStore.NewId("batch_"), grant.KeyId, grant.Model, endpoint, input.Id, window, failed ? "failed" : "in_progress", metadata,
            failed ? new JsonObject { ["object"] = "list", ["data"] = new JsonArray([.. errors]) }.ToJsonString() : null,
            now, failed ? null : now, null, null, failed ? now : null, null, null, now + 24 * 3600, null, null, 0, 0, 0);
        store.AddBatch(batch, failed ? [] : lines);
        runner.Wake();
        await WriteAsync(http, BatchObject(store.FindBatch(batch.Id)!)).ConfigureAwait(false);
    }

    public Task ListBatchesAsync(HttpContext http, ApiKeyGrant grant)
    {
        var limit = int.TryParse(http.Request.Query["limit"], out var l) ? Math.Clamp(l, 1, 100) : 20;
        return WriteAsync(http, List(store.ListBatches(grant.KeyId, limit).Select(BatchObject)));
    }

    public Task GetBatchAsync(HttpContext http, ApiKeyGrant grant) => WriteAsync(http, BatchObject(OwnBatch(http, grant)));

    public Task CancelBatchAsync(HttpContext http, ApiKeyGrant grant)
    {
        var batch = OwnBatch(http, grant);
        if (!store.SetStatus(batch.Id, "cancelling", Now(), "validating", "in_progress"))
            throw new OpenAiError(HttpStatusCode.Conflict, $"Batch {batch.Id} is {batch.Status}; only a batch in progress can be cancelled.", "invalid_request_error");
        runner.Wake();
        return WriteAsync(http, BatchObject(store.FindBatch(batch.Id)!));
    }

    /// <summary>
    /// Reads and checks every line of an input file: a JSON object with a unique <c>custom_id</c>, <c>method</c> POST,
    /// <c>url</c> the batch's endpoint and a <c>body</c> object (not streaming, and naming a model the key may use).
    /// </summary>
    private async Task<(List<(string CustomId, string Body)> Lines, List<JsonNode> Errors)> ReadLinesAsync(string path, string endpoint, ApiKeyGrant grant, CancellationToken ct)
    {
        var lines = new List<(string, string)>();
        var errors = new List<JsonNode>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var number = 0;
        void Error(string code, string message) => errors.Add(new JsonObject { ["code"] = code, ["message"] = message, ["param"] = null, ["line"] = number });
        using var reader = new StreamReader(path, Encoding.UTF8);
        while (await reader.ReadLineAsync(ct).ConfigureAwait(false) is { } text)
        {
            number++;
            if (string.IsNullOrWhiteSpace(text))
                continue;
            if (lines.Count >= options.MaxLines)
            {
                Error("too_many_lines", $"A batch may hold at most {options.MaxLines} requests.");
                break;
            }
            try
            {
                using var doc = JsonDocument.Parse(text);
                var root = doc.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                    throw new FormatException("the line is not a JSON object");
                var customId = root.TryGetProperty("custom_id", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : throw new FormatException("custom_id is missing or not a string");
                if (!ids.Add(customId))
                    throw new FormatException($"custom_id '{customId}' is used twice");
                if (!root.TryGetProperty("method", out var m) || m.GetString() != "POST")
                    throw new FormatException("method must be POST");
                if (!root.TryGetProperty("url", out var u) || u.GetString() != endpoint)
                    throw new FormatException($"url must be the batch's endpoint, {endpoint}");
                if (!root.TryGetProperty("body", out var b) || b.ValueKind != JsonValueKind.Object)
                    throw new FormatException("body must be a JSON object");
                if (b.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True)
                    throw new FormatException("a batch request cannot stream (stream must be false)");
                if (b.TryGetProperty("model", out var model) && model.ValueKind == JsonValueKind.String && !grant.Allows(model.GetString()!))
                    throw new FormatException($"this key may not use model '{model.GetString()}'");
                lines.Add((customId, b.GetRawText()));
            }
            catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
            {
                Error("invalid_request", $"Line {number}: {(e is JsonException ? "not valid JSON" : e.Message)}.");
            }
            if (errors.Count >= 100)
                break;
        }
        if (lines.Count == 0 && errors.Count == 0)
            Error("empty_file", "The input file holds no requests.");
        return (lines, errors);
    }

    private StoredFile OwnFile(HttpContext http, ApiKeyGrant grant)
    {
        var id = (string?)http.Request.RouteValues["id"] ?? "";
        return store.FindFile(id) is { } f && f.Owner == grant.KeyId
            ? f : throw new OpenAiError(HttpStatusCode.NotFound, $"No such file: '{id}'.", "invalid_request_error", "id");
    }

    private StoredBatch OwnBatch(HttpContext http, ApiKeyGrant grant)
    {
        var id = (string?)http.Request.RouteValues["id"] ?? "";
        return store.FindBatch(id) is { } b && b.Owner == grant.KeyId
            ? b : throw new OpenAiError(HttpStatusCode.NotFound, $"No such batch: '{id}'.", "invalid_request_error", "id");
    }

    private static JsonObject FileObject(StoredFile f) => new()
    {
        ["id"] = f.Id,
        ["object"] = "file",
        ["bytes"] = f.Bytes,
        ["created_at"] = f.CreatedAt,
        ["filename"] = f.Filename,
        ["purpose"] = f.Purpose,
        ["status"] = "processed",
    };

    private static JsonObject BatchObject(StoredBatch b) => new()
    {
        ["id"] = b.Id,
        ["object"] = "batch",
        ["endpoint"] = b.Endpoint,
        ["errors"] = b.Errors is null ? null : JsonNode.Parse(b.Errors),
        ["input_file_id"] = b.InputFileId,
        ["completion_window"] = b.CompletionWindow,
        ["status"] = b.Status,
        ["output_file_id"] = b.OutputFileId,
        ["error_file_id"] = b.ErrorFileId,
        ["created_at"] = b.CreatedAt,
        ["in_progress_at"] = b.InProgressAt,
        ["expires_at"] = b.ExpiresAt,
        ["finalizing_at"] = b.FinalizingAt,
        ["completed_at"] = b.CompletedAt,
        ["failed_at"] = b.FailedAt,
        ["expired_at"] = null,
        ["cancelling_at"] = b.CancellingAt,
        ["cancelled_at"] = b.CancelledAt,
        ["request_counts"] = new JsonObject { ["total"] = b.Total, ["completed"] = b.Completed, ["failed"] = b.Failed },
        ["metadata"] = b.Metadata is null ? null : JsonNode.Parse(b.Metadata),
    };

    private static JsonObject List(IEnumerable<JsonObject> items)
    {
        var data = new JsonArray([.. items]);
        return new JsonObject
        {
            ["object"] = "list",
            ["data"] = data,
            ["first_id"] = data.Count > 0 ? data[0]!["id"]!.GetValue<string>() : null,
            ["last_id"] = data.Count > 0 ? data[^1]!["id"]!.GetValue<string>() : null,
            ["has_more"] = false,
        };
    }

    private static Task WriteAsync(HttpContext http, JsonNode value)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "application/json";
        return http.Response.WriteAsync(value.ToJsonString(), http.RequestAborted);
    }

    private long Now() => time.GetUtcNow().ToUnixTimeSeconds();
}
