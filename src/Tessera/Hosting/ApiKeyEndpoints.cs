using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Tessera.Api.Keys;
using Tessera.Pool.Client;
using Tessera.Pool.Security;
using Tessera.Pool.State;

namespace Tessera.Cli.Hosting;

/// <summary>Admin endpoints for the keys of the OpenAI-compatible API: GET/POST /api/keys, DELETE /api/keys/{id}.</summary>
internal static class ApiKeyEndpoints
{
    public const int MaxNameLength = 200;
    public const int MaxRequestsPerMinute = 1_000_000;

    /// <summary>Maps the endpoints into <paramref name="admin"/>, a group under /api that already requires the admin key.</summary>
    public static void Map(IEndpointRouteBuilder admin, ApiKeyStore keys, PoolStore events, TimeProvider time)
    {
        admin.MapGet("/keys", () => keys.List().Select(k => ToView(k, time.GetUtcNow()))).WithSummary("The API keys of /v1 (never the keys themselves)");
        admin.MapPost("/keys", (CreateApiKeyRequest? request) =>
        {
            var name = request?.Name?.Trim() ?? string.Empty;
            if (name.Length > MaxNameLength)
                return Results.BadRequest(new ErrorView($"A key's name may have at most {MaxNameLength} characters."));
            var model = string.IsNullOrWhiteSpace(request?.Model) ? null : request.Model.Trim();
            if (model is { Length: > MaxNameLength })
                return Results.BadRequest(new ErrorView($"A model name may have at most {MaxNameLength} characters."));
            if (request?.RequestsPerMinute is < 1 or > MaxRequestsPerMinute)
                return Results.BadRequest(new ErrorView($"A key's rate must be from 1 to {MaxRequestsPerMinute} requests a minute, got {request.RequestsPerMinute}."));
            // A malformed ttl throws PoolException, which the admin filter answers with 400 and its message.
            TimeSpan? lifetime = string.IsNullOrWhiteSpace(request?.Ttl) ? null : DurationParser.Parse(request.Ttl);
            var (record, key) = keys.Create(name, lifetime, model, request?.RequestsPerMinute);
            events.AddEvent(record.CreatedAt, "api-key-created", null, $"API key {record.Id}" + (name.Length > 0 ? $" ({name})" : "") + " created"
                + (model is null ? "" : $" for model {model}") + (record.ExpiresAt is { } e ? $", valid until {e:u}" : "") + ".");
            return Results.Created($"/api/keys/{record.Id}",
                new CreatedApiKeyView(record.Id, record.Name, key, record.CreatedAt, record.ExpiresAt, record.Model, record.RequestsPerMinute));
        }).WithSummary("Create an API key for /v1, optionally for one model, with a lifetime and a rate; the key is shown only now")
            .Produces<CreatedApiKeyView>(201).Produces<ErrorView>(400);
        admin.MapDelete("/keys/{id}", (string id) =>
        {
            if (keys.Revoke(id) is not { } record)
                return Results.NotFound(new ErrorView($"No API key {id}. List keys with `tessera key list`."));
            events.AddEvent(record.RevokedAt ?? time.GetUtcNow(), "api-key-revoked", null, $"API key {record.Id} revoked.");
            return Results.Ok(ToView(record, time.GetUtcNow()));
        }).WithSummary("Revoke an API key").Produces<ApiKeyView>().Produces<ErrorView>(404);
    }

    private static ApiKeyView ToView(ApiKeyRecord r, DateTimeOffset now) =>
        new(r.Id, r.Name, r.Hint, r.CreatedAt, r.RevokedAt, r.LastUsedAt, r.IsRevoked ? "revoked" : r.IsExpired(now) ? "expired" : "active",
            r.ExpiresAt, r.Model, r.RequestsPerMinute);
}
