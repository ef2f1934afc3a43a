using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Tessera.Identity;
using Tessera.Pool.Client;
using Tessera.Pool.Security;

namespace Tessera.Pool.Coordinator;

/// <summary>The REST API under /api. Everything but health, the CA certificate and the OpenAPI document needs the admin key.</summary>
internal static class PoolApi
{
    public static void Map(IEndpointRouteBuilder app, CoordinatorContext pool)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/health", () => new HealthView("ok", pool.PoolId, pool.Authority.Fingerprint, pool.JoinAddress));
        api.MapGet("/ca", () => Results.Text(pool.Authority.Certificate.ExportCertificatePem(), "application/x-pem-file"));
        api.MapGet("/openapi.json", () => Results.Text(OpenApiDocument.Json, "application/json"));

        var admin = api.MapGroup("").AddEndpointFilter(new AdminKeyFilter(pool));
        admin.MapGet("/nodes", () => pool.Membership.ListNodes());
        admin.MapGet("/nodes/{node}", (string node) => Find(pool, node) is { } view ? Results.Ok(view) : NotFound(node));
        admin.MapPost("/nodes/{node}/drain", (string node) => Find(pool, node) is { } view ? Results.Ok(pool.Membership.Drain(view.Id)) : NotFound(node));
        admin.MapPost("/nodes/{node}/remove", (string node) => Find(pool, node) is { } view ? Results.Ok(pool.Membership.Remove(view.Id)) : NotFound(node));
        admin.MapDelete("/nodes/{node}", (string node) => Find(pool, node) is { } view ? Results.Ok(pool.Membership.Remove(view.Id)) : NotFound(node));
        admin.MapGet("/devices", () => Devices(pool));
        admin.MapGet("/tokens", () => pool.Store.ListTokens().Select(t => ToView(t, pool.Time.GetUtcNow())));
        admin.MapPost("/tokens", (CreateTokenRequest? request) =>
        {
            var ttl = DurationParser.Parse(string.IsNullOrWhiteSpace(request?.Ttl) ? "24h" : request.Ttl);
            var (record, token) = pool.CreateToken(ttl, request?.Description ?? string.Empty, request?.Uses ?? 1, request?.Labels);
            return Results.Created($"/api/tokens/{record.Id}", new CreatedTokenView(record.Id, token, record.ExpiresAt, $"tessera join {token}", record.MaxUses ?? 0));
        });
        admin.MapDelete("/tokens/{id}", (string id) => pool.Store.RevokeToken(id, pool.Time.GetUtcNow())
            ? Results.Ok(ToView(pool.Store.GetToken(id)!, pool.Time.GetUtcNow()))
            : Results.NotFound(new ErrorView($"No token {id}. List tokens with `tessera token list`.")));
        admin.MapGet("/events", (long? after, int? limit, string? node) =>
            pool.Store.ListEvents(after ?? 0, Math.Clamp(limit ?? 200, 1, 5000), node)
                .Select(e => new EventView(e.Id, e.At, e.Kind, e.NodeId, e.FromState, e.ToState, e.Message)));
        admin.MapGet("/links", () => pool.Store.ListLinks()
            .Select(l => new LinkView(l.FromNodeId, l.ToNodeId, l.RttMs, l.JitterP99Ms, l.BandwidthMbps, l.MeasuredAt, l.RttP99Ms, l.Loss, l.Samples, l.Error)));
        admin.MapPost("/admin-key/rotate", () => Results.Ok(new RotatedAdminKeyView(pool.RotateAdminKey(), pool.AdminKeyPath)));
        admin.MapGet("/stats", () => new StatsView(pool.Membership.NodeCount, pool.Membership.HeartbeatsApplied));
    }

    private static NodeView? Find(CoordinatorContext pool, string node) => pool.Membership.FindNode(node);

    private static IResult NotFound(string node) =>
        Results.NotFound(new ErrorView($"No node named or with id '{node}'. List nodes with `tessera nodes`."));

    private static IEnumerable<DeviceView> Devices(CoordinatorContext pool)
    {
        foreach (var node in pool.Membership.ListNodes())
        {
            yield return new DeviceView(node.Id, node.Name, node.State, "cpu", 0, node.Cpu.Model, node.RamTotalBytes, node.RamFreeBytes, node.Cpu.SpeedGBps) { Id = node.Id + "/cpu" };
            foreach (var gpu in node.Gpus)
                yield return new DeviceView(node.Id, node.Name, node.State, "gpu", gpu.Index, gpu.Name, gpu.MemoryTotalBytes, gpu.MemoryFreeBytes, gpu.SpeedGBps) { Id = node.Id + "/" + gpu.Device };
        }
    }

    private static TokenView ToView(TokenRecord t, DateTimeOffset now) => new(t.Id, t.Description, t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.Uses,
        t.RevokedAt is not null ? "revoked" : now >= t.ExpiresAt ? "expired" : !t.HasUsesLeft ? "used" : "valid", t.MaxUses, t.Labels);
}
