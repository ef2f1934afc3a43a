using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Tessera.Identity;
using Tessera.Pool.Client;
using Tessera.Pool.Membership;
using Tessera.Pool.Security;

namespace Tessera.Pool.Coordinator;

/// <summary>The REST API under /api. Everything but health, the CA certificate and the OpenAPI document needs the admin key.</summary>
internal static class PoolApi
{
    public static void Map(IEndpointRouteBuilder app, CoordinatorContext pool)
    {
        var api = app.MapGroup("/api").WithTags("Pool");
        api.MapGet("/health", () => new HealthView("ok", pool.PoolId, pool.Authority.Fingerprint, pool.JoinAddress))
            .WithSummary("Liveness and the pool's identity");
        api.MapGet("/ca", () => Results.Text(pool.Authority.Certificate.ExportCertificatePem(), "application/x-pem-file"))
            .WithSummary("The pool CA certificate (PEM); check its SHA-256 against the fingerprint in a join token").Produces<string>(contentType: "application/x-pem-file");
        app.MapCoordinatorOpenApi();

        var admin = api.MapGroup("").RequireAdminKey(pool);
        admin.MapGet("/nodes", (HttpContext http, string? after, string? limit) =>
            ApiPaging.Respond(http, pool.Membership.ListNodes(NonEmpty(after), ApiPaging.Limit(limit, Page<NodeView>.DefaultLimit, Page<NodeView>.MaxLimit)), "after"))
            .WithSummary(PageSummary("nodes in join order", "the id of the last node")).Produces<List<NodeView>>().Produces<ErrorView>(400);
        admin.MapGet("/nodes/{node}", (string node) => Find(pool, node) is { } view ? Results.Ok(view) : NotFound(node))
            .WithSummary("One node, by id or unique name").Produces<NodeView>().Produces<ErrorView>(404);
        admin.MapPost("/nodes/{node}/drain", (string node) => Find(pool, node) is { } view ? Results.Ok(pool.Membership.Drain(view.Id)) : NotFound(node))
            .WithSummary("Drain the node: no new work is placed on it").Produces<NodeView>().Produces<ErrorView>(404);
        admin.MapPost("/nodes/{node}/remove", (string node) => Find(pool, node) is { } view ? Results.Ok(pool.Membership.Remove(view.Id)) : NotFound(node))
            .WithSummary("Same as DELETE /api/nodes/{node}").Produces<NodeView>().Produces<ErrorView>(404);
        admin.MapDelete("/nodes/{node}", (string node) => Find(pool, node) is { } view ? Results.Ok(pool.Membership.Remove(view.Id)) : NotFound(node))
            .WithSummary("Remove the node (state left; its certificate is refused from now on)").Produces<NodeView>().Produces<ErrorView>(404);
        admin.MapGet("/devices", (HttpContext http, string? after, string? limit) =>
            ApiPaging.Respond(http, Devices(pool, NonEmpty(after), ApiPaging.Limit(limit, Page<DeviceView>.DefaultLimit, Page<DeviceView>.MaxLimit)), "after"))
            .WithSummary(PageSummary("devices (each node's CPU and GPUs, nodes in join order) with memory and measured speed", "the id (NODE/DEVICE) of the last device"))
            .Produces<List<DeviceView>>().Produces<ErrorView>(400);
        admin.MapGet("/tokens", () => pool.Store.ListTokens().Select(t => ToView(t, pool.Time.GetUtcNow())))
            .WithSummary("Join tokens (never their secrets)");
        admin.MapPost("/tokens", (CreateTokenRequest? request) =>
        {
            var ttl = DurationParser.Parse(string.IsNullOrWhiteSpace(request?.Ttl) ? "24h" : request.Ttl);
            var (record, token) = pool.CreateToken(ttl, request?.Description ?? string.Empty, request?.Uses ?? 1, request?.Labels);
            return Results.Created($"/api/tokens/{record.Id}", new CreatedTokenView(record.Id, token, record.ExpiresAt, $"tessera join {token}", record.MaxUses ?? 0));
        }).WithSummary("Create a join token; its text is shown only now").Produces<CreatedTokenView>(201).Produces<ErrorView>(400);
        admin.MapDelete("/tokens/{id}", (string id) => pool.Store.RevokeToken(id, pool.Time.GetUtcNow())
            ? Results.Ok(ToView(pool.Store.GetToken(id)!, pool.Time.GetUtcNow()))
            : Results.NotFound(new ErrorView($"No token {id}. List tokens with `tessera token list`.")))
            .WithSummary("Revoke a join token").Produces<TokenView>().Produces<ErrorView>(404);
        admin.MapGet("/events", (HttpContext http, string? after, string? before, string? limit, string? node, string? order) =>
            ApiPaging.Respond(http, Events(pool, after, before, limit, NonEmpty(node), order), Descending(order) ? "before" : "after"))
            .WithSummary("A page of events (state transitions, joins, token changes): oldest first from after=, or with order=desc newest first from before=; "
                + $"limit= at most {Page<EventView>.MaxEventLimit} ({Page<EventView>.DefaultEventLimit} when absent); node= keeps one node's; the Link header's rel=\"next\" URL is the next page")
            .Produces<List<EventView>>().Produces<ErrorView>(400);
        admin.MapGet("/links", (HttpContext http, string? after, string? limit) =>
            ApiPaging.Respond(http, Links(pool, NonEmpty(after), ApiPaging.Limit(limit, Page<LinkView>.DefaultLimit, Page<LinkView>.MaxLimit)), "after"))
            .WithSummary(PageSummary("the measured links between nodes in (from, to) order, the latest measurement of each", "FROM/TO of the last link"))
            .Produces<List<LinkView>>().Produces<ErrorView>(400);
        admin.MapPost("/admin-key/rotate", () => Results.Ok(new RotatedAdminKeyView(pool.RotateAdminKey(), pool.AdminKeyPath)))
            .WithSummary("Replace the admin key: the coordinator writes a new admin.key and refuses the old key from now on").Produces<RotatedAdminKeyView>();
        admin.MapGet("/stats", () => new StatsView(pool.Membership.NodeCount, pool.Membership.HeartbeatsApplied)
        {
            States = pool.Membership.StateCounts().ToDictionary(s => s.Key.ToWire(), s => s.Value),
        }).WithSummary("How many nodes, in which states, and the heartbeats applied");
    }

    /// <summary>The summary of a paged list: what it lists, and what its cursor is.</summary>
    private static string PageSummary(string items, string cursor) =>
        $"A page of {items}; after= is {cursor} of the previous page, limit= at most {Page<NodeView>.MaxLimit} ({Page<NodeView>.DefaultLimit} when absent); "
        + "the Link header's rel=\"next\" URL is the next page, absent on the last";

    private static NodeView? Find(CoordinatorContext pool, string node) => pool.Membership.FindNode(node);

    private static IResult NotFound(string node) =>
        Results.NotFound(new ErrorView($"No node named or with id '{node}'. List nodes with `tessera nodes`."));

    private static string? NonEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;

    /// <summary>
    /// A page of devices: each node's CPU then its GPUs, nodes in join order; the cursor is the last device's id
    /// (NODE/DEVICE), so a page may end inside a node and the next one goes on with that node's next device.
    /// </summary>
    private static Page<DeviceView> Devices(CoordinatorContext pool, string? after, int limit)
    {
        var devices = new List<DeviceView>(limit + 1);
        string? nodeCursor = null;
        if (after is not null)
        {
            var slash = after.IndexOf('/', StringComparison.Ordinal);
            var node = slash > 0 ? pool.Membership.Get(after[..slash]) : null;
            if (node is null)
                throw new PoolException($"'{after}' is not a device id, so it cannot be the cursor of a page of devices: pass after=NODE/DEVICE with the id of the last device of the previous page, as the Link header's next URL does.", exitCode: 2);
            nodeCursor = node.Id;
            // The rest of the cursor's node first; a device it no longer has (a GPU gone since) ends the node there.
            var own = DevicesOf(pool.Membership.FindNode(node.Id)!);
            var at = own.FindIndex(d => d.Id == after);
            if (at >= 0)
                devices.AddRange(own.Skip(at + 1));
        }
        while (devices.Count <= limit)
        {
            // Nodes have one to a few devices: a page of nodes as large as the page of devices always fills it.
            var nodes = pool.Membership.ListNodes(nodeCursor, limit);
            foreach (var node in nodes.Items)
                devices.AddRange(DevicesOf(node));
            if (nodes.Next is null)
                break;
            nodeCursor = nodes.Next;
        }
        var more = devices.Count > limit;
        if (more)
            devices.RemoveRange(limit, devices.Count - limit);
        return new Page<DeviceView>(devices, more ? devices[^1].Id : null);
    }

    private static List<DeviceView> DevicesOf(NodeView node)
    {
        var devices = new List<DeviceView>(1 + node.Gpus.Count)
        {
            new(node.Id, node.Name, node.State, "cpu", 0, node.Cpu.Model, node.RamTotalBytes, node.RamFreeBytes, node.Cpu.SpeedGBps) { Id = node.Id + "/cpu" },
        };
        foreach (var gpu in node.Gpus)
            devices.Add(new DeviceView(node.Id, node.Name, node.State, "gpu", gpu.Index, gpu.Name, gpu.MemoryTotalBytes, gpu.MemoryFreeBytes, gpu.SpeedGBps) { Id = node.Id + "/" + gpu.Device });
        return devices;
    }

    private static bool Descending(string? order) => string.Equals(order, "desc", StringComparison.OrdinalIgnoreCase);

    /// <summary>An event of the log as the API shows it (its page and its stream).</summary>
    internal static EventView ToView(State.EventRecord e) => new(e.Id, e.At, e.Kind, e.NodeId, e.FromState, e.ToState, e.Message);

    /// <summary>
    /// A page of events: oldest first from after= (default), or newest first from before= with order=desc, which is how
    /// the last events of a long log are read without reading the log.
    /// </summary>
    private static Page<EventView> Events(CoordinatorContext pool, string? after, string? before, string? limitText, string? node, string? order)
    {
        if (!string.IsNullOrEmpty(order) && !Descending(order) && !string.Equals(order, "asc", StringComparison.OrdinalIgnoreCase))
            throw new PoolException($"order={order} is not an order: give asc (oldest first, the default) or desc (newest first).", exitCode: 2);
        var limit = ApiPaging.Limit(limitText, Page<EventView>.DefaultEventLimit, Page<EventView>.MaxEventLimit);
        var newestFirst = Descending(order);
        var rows = pool.Store.ListEvents(ApiPaging.EventId(after, "after") ?? 0, ApiPaging.EventId(before, "before") ?? long.MaxValue, limit + 1, node, newestFirst);
        var more = rows.Count > limit;
        var items = rows.Take(limit).Select(ToView).ToList();
        return new Page<EventView>(items, more ? items[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null);
    }

    /// <summary>A page of links in (from, to) order; the cursor is the last link's FROM/TO.</summary>
    private static Page<LinkView> Links(CoordinatorContext pool, string? after, int limit)
    {
        (string, string)? cursor = null;
        if (after is not null)
        {
            var slash = after.IndexOf('/', StringComparison.Ordinal);
            if (slash <= 0 || slash == after.Length - 1 || after.IndexOf('/', slash + 1) >= 0)
                throw new PoolException($"'{after}' is not a link, so it cannot be the cursor of a page of links: pass after=FROM/TO with the nodes of the last link of the previous page, as the Link header's next URL does.", exitCode: 2);
            cursor = (after[..slash], after[(slash + 1)..]);
        }
        var rows = pool.Store.ListLinks(cursor, limit + 1);
        var more = rows.Count > limit;
        var items = rows.Take(limit)
            .Select(l => new LinkView(l.FromNodeId, l.ToNodeId, l.RttMs, l.JitterP99Ms, l.BandwidthMbps, l.MeasuredAt, l.RttP99Ms, l.Loss, l.Samples, l.Error)).ToList();
        return new Page<LinkView>(items, more ? items[^1].FromNodeId + "/" + items[^1].ToNodeId : null);
    }

    private static TokenView ToView(TokenRecord t, DateTimeOffset now) => new(t.Id, t.Description, t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.Uses,
        t.RevokedAt is not null ? "revoked" : now >= t.ExpiresAt ? "expired" : !t.HasUsesLeft ? "used" : "valid", t.MaxUses, t.Labels);
}
