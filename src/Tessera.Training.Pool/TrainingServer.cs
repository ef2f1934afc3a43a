using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tessera.Identity;

namespace Tessera.Training.Pool;

/// <summary>
/// The training coordinator's HTTPS service. Workers speak to <c>/train/v1/*</c> with mutual TLS: their certificate must
/// come from the run's CA (or the pool's, for workers on pool nodes), and its node id is the worker's identity.
/// <c>/api/training</c> answers a bearer of the run's <c>training.key</c>. Bodies: JSON for control, raw little-endian
/// bytes for parameters, changes and tokens. This service is separate from a pool's agent control stream, so a round's
/// megabytes never delay heartbeats.
/// </summary>
public sealed class TrainingServer : IAsyncDisposable
{
    /// <summary>The largest change a worker may upload.</summary>
    public const long MaxChangeBytes = 2L * 1024 * 1024 * 1024;

    private readonly WebApplication _app;
    private readonly Timer _ticker;

    private TrainingServer(WebApplication app, TrainingCoordinator coordinator)
    {
        _app = app;
        Coordinator = coordinator;
        _ticker = new Timer(_ => coordinator.Tick(), null, TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(500));
    }

    public TrainingCoordinator Coordinator { get; }

    /// <summary>The address workers reach (host:port).</summary>
    public string Address { get; private set; } = "";

    /// <summary>Starts listening on <paramref name="listen"/>.</summary>
    public static async Task<TrainingServer> StartAsync(TrainingCoordinator coordinator, PoolCertificateAuthority authority, IPEndPoint listen,
        string trainingKey, TimeProvider time, CancellationToken cancellationToken)
    {
        var addresses = new List<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback };
        if (!listen.Address.Equals(IPAddress.Any) && !listen.Address.Equals(IPAddress.IPv6Any)) addresses.Add(listen.Address);
        else addresses.AddRange(LocalAddresses());
        var serverCertificate = authority.IssueServerCertificate(["localhost", Dns.GetHostName()], addresses.Distinct(), time);
        var ca = authority.Certificate;

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxChangeBytes;
            kestrel.Listen(listen, options =>
            {
                options.Protocols = HttpProtocols.Http1AndHttp2;
                options.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = serverCertificate,
                    ClientCertificateMode = ClientCertificateMode.AllowCertificate,
                    CheckCertificateRevocation = false,
                    ClientCertificateValidation = (certificate, _, _) => CertificateChecks.CheckNode(certificate, ca, time.GetUtcNow()).Error is null,
                });
            });
        });
        var app = builder.Build();
        Map(app, coordinator, ca, trainingKey, time);
        await app.StartAsync(cancellationToken).ConfigureAwait(false);
        var server = new TrainingServer(app, coordinator);
        var bound = app.Urls.Select(u => new Uri(u)).First();
        var host = listen.Address.Equals(IPAddress.Any) ? "127.0.0.1" : listen.Address.ToString();
        server.Address = $"{host}:{bound.Port}";
        return server;
    }

    private static IEnumerable<IPAddress> LocalAddresses()
    {
        try { return Dns.GetHostAddresses(Dns.GetHostName()); }
        catch (System.Net.Sockets.SocketException) { return []; }
    }

    private static void Map(WebApplication app, TrainingCoordinator coordinator, X509Certificate2 ca, string trainingKey, TimeProvider time)
    {
        var train = app.MapGroup("/train/v1").AddEndpointFilter(async (context, next) =>
        {
            var certificate = context.HttpContext.Connection.ClientCertificate;
            var (nodeId, error) = certificate is null ? (null, "no client certificate") : CertificateChecks.CheckNode(certificate, ca, time.GetUtcNow());
            if (nodeId is null) return Results.Problem($"A worker certificate of this run is required ({error}).", statusCode: 401);
            context.HttpContext.Items["worker"] = nodeId;
            return await next(context).ConfigureAwait(false);
        });
        static string Worker(HttpContext c) => (string)c.Items["worker"]!;

        train.MapPost("/hello", async (HttpContext c, CancellationToken _) =>
        {
            var hello = await JsonSerializer.DeserializeAsync<HelloRequest>(c.Request.Body, TrainingConfig.Json, c.RequestAborted).ConfigureAwait(false);
            coordinator.Hello(Worker(c), string.IsNullOrWhiteSpace(hello?.Name) ? Worker(c) : hello!.Name);
            return Results.Json(new HelloResponse(coordinator.RunId, coordinator.Shape.Vocab, coordinator.Config.ToJson()), TrainingConfig.Json);
        });
        // A second parameter keeps these lambdas from binding as a RequestDelegate, which would drop the result.
        train.MapPost("/next", async (HttpContext c, CancellationToken _) =>
            Results.Json(await coordinator.NextAsync(Worker(c), TimeSpan.FromSeconds(20), c.RequestAborted).ConfigureAwait(false), TrainingConfig.Json));
        train.MapGet("/model", (HttpContext c) =>
        {
            var (bytes, version) = coordinator.Model(Worker(c));
            c.Response.Headers["X-Tessera-Version"] = version.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Bytes(bytes, "application/octet-stream");
        });
        train.MapGet("/model/update", (HttpContext c, int from) =>
        {
            var bytes = coordinator.Update(Worker(c), from);
            if (bytes is null) return Results.NotFound();
            c.Response.Headers["X-Tessera-Version"] = (from + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Bytes(bytes, "application/octet-stream");
        });
        train.MapGet("/data", (long cursor, int count) =>
        {
            try
            {
                var windows = coordinator.Data(cursor, count);
                return Results.Bytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(windows.AsSpan()).ToArray(), "application/octet-stream");
            }
            catch (ArgumentOutOfRangeException ex) { return Results.Problem(ex.Message, statusCode: 400); }
        });
        train.MapPost("/progress", async (HttpContext c, CancellationToken _) =>
        {
            var p = await JsonSerializer.DeserializeAsync<ProgressReport>(c.Request.Body, TrainingConfig.Json, c.RequestAborted).ConfigureAwait(false);
            if (p is null) return Results.BadRequest();
            coordinator.Progress(Worker(c), p.Round, p.Step, p.Loss, p.TokensPerSecond);
            return Results.NoContent();
        });
        train.MapPost("/contribution", async (HttpContext c, int round, long tokens, float loss) =>
        {
            using var body = new MemoryStream();
            await c.Request.Body.CopyToAsync(body, c.RequestAborted).ConfigureAwait(false);
            var refusal = coordinator.Contribute(Worker(c), round, tokens, loss, body.GetBuffer().AsSpan(0, (int)body.Length));
            return Results.Json(new ContributionResponse(refusal is null, refusal), TrainingConfig.Json);
        });

        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(trainingKey));
        app.MapGet("/api/training", (HttpContext c) =>
        {
            var header = c.Request.Headers.Authorization.ToString();
            var presented = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header[7..].Trim() : "";
            if (!CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(presented)), expected))
                return Results.Problem("Send the run's training.key as a bearer token (it is in the run folder).", statusCode: 401);
            return Results.Json(Status(coordinator), TrainingConfig.Json);
        });
    }

    /// <summary>The run's state as /api/training shows it.</summary>
    public static TrainingStatus Status(TrainingCoordinator c) => new(
        c.Config.Name, c.RunId, c.Done ? "done" : "running", c.Round, c.Config.Rounds, c.Tokens, c.BytesUp, c.BytesDown, c.LastValidationLoss,
        c.Config.Workers, c.Config.InnerSteps, c.Config.Compression, c.Workers(), c.History);

    public async ValueTask DisposeAsync()
    {
        await _ticker.DisposeAsync().ConfigureAwait(false);
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}

public sealed record HelloRequest(string Name);
public sealed record HelloResponse(string RunId, int Vocab, string ConfigJson);
public sealed record ProgressReport(int Round, int Step, float Loss, double TokensPerSecond);
public sealed record ContributionResponse(bool Accepted, string? Reason);

/// <summary>GET /api/training.</summary>
public sealed record TrainingStatus(string Name, string RunId, string State, int Round, int Rounds, long Tokens, long BytesUp, long BytesDown,
    float? ValidationLoss, int Workers, int InnerSteps, string Compression, IReadOnlyList<WorkerView> WorkerList, IReadOnlyList<RoundRecord> History);
