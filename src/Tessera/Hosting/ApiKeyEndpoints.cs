using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Tessera.Api.Keys;
using Tessera.Pool.Client;
using Tessera.Pool.State;

namespace Tessera.Cli.Hosting;

/// <summary>Admin endpoints for the keys of the OpenAI-compatible API: GET/POST /api/keys, DELETE /api/keys/{id}.</summary>
internal static class ApiKeyEndpoints
{
    public const int MaxNameLength = 200;

    /// <summary>Maps the endpoints into <paramref name="admin"/>, a group under /api that already requires the admin key.</summary>
    public static void Map(IEndpointRouteBuilder admin, ApiKeyStore keys, PoolStore events, TimeProvider time)
    {
        admin.MapGet("/keys", () => keys.List().Select(ToView));
        admin.MapPost("/keys", (CreateApiKeyRequest? request) =>
        {
            var name = request?.Name?.Trim() ?? string.Empty;
            if (name.Length > MaxNameLength)
                return Results.BadRequest(new ErrorView($"A key's name may have at most {MaxNameLength} characters."));
            var (record, key) = keys.Create(name);
            events.AddEvent(record.CreatedAt, "api-key-created", null, $"API key {record.Id}" + (name.Length > 0 ? $" ({name})" : "") + " created.");
            return Results.Created($"/api/keys/{record.Id}", new CreatedApiKeyView(record.Id, record.Name, key, record.CreatedAt));
        });
        admin.MapDelete("/keys/{id}", (string id) =>
        {
            if (keys.Revoke(id) is not { } record)
                return Results.NotFound(new ErrorView($"No API key {id}. List keys with `tessera key list`."));
            events.AddEvent(record.RevokedAt ?? time.GetUtcNow(), "api-key-revoked", null, $"API key {record.Id} revoked.");
            return Results.Ok(ToView(record));
        });
    }

    private static ApiKeyView ToView(ApiKeyRecord r) =>
        new(r.Id, r.Name, r.Hint, r.CreatedAt, r.RevokedAt, r.LastUsedAt, r.IsRevoked ? "revoked" : "active");
}
