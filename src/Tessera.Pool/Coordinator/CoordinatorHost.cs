using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Tessera.Identity;
using Tessera.Pool.Client;
using Tessera.Pool.Control;
using Tessera.Pool.State;
using Tessera.Storage;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// The coordinator process: opens (or creates) the pool in its data directory, then serves the
/// agents' gRPC service and the REST API on one TLS port (HTTP/1.1 and HTTP/2). Client
/// certificates are optional at the TLS level (joining agents and API clients have none) and are
/// required by the agent stream.
/// </summary>
public sealed class CoordinatorHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly PoolStore _store;
    private readonly PoolCertificateAuthority _authority;

    private readonly DataDirectoryLock _lock;

    private CoordinatorHost(WebApplication app, CoordinatorContext context, PoolStore store, PoolCertificateAuthority authority, CoordinatorInfo info, bool created,
        DataDirectoryLock held)
    {
        _lock = held;
        _app = app;
        Context = context;
        _store = store;
        _authority = authority;
        Info = info;
        Created = created;
    }

    public CoordinatorContext Context { get; }
    public CoordinatorInfo Info { get; }

    /// <summary>True when this start created the pool (first start in this data directory).</summary>
    public bool Created { get; }

    /// <summary>The endpoints the host answers, mapped by the pool and by whoever composed it (its OpenAPI test compares them with the document).</summary>
    internal IReadOnlyList<Microsoft.AspNetCore.Http.Endpoint> Endpoints => _app.Services.GetRequiredService<Microsoft.AspNetCore.Routing.EndpointDataSource>().Endpoints;

    public static async Task<CoordinatorHost> StartAsync(CoordinatorOptions options, ILoggerFactory loggerFactory, TimeProvider time, CancellationToken cancellationToken)
    {
        var dir = options.DataDirectory;
        dir.EnsureExists();
        var held = DataDirectoryLock.Acquire(dir);
        SqliteDatabase database;
        try
        {
            database = PoolSchema.Open(dir.Database);
        }
        catch
        {
            held.Dispose();
            throw;
        }
        var store = new PoolStore(database);
        try
        {
            var created = false;
            var poolId = store.GetMeta("pool_id");
            if (poolId is null)
            {
                if (File.Exists(dir.CaKey))
                    throw new PoolException($"{dir.Root} has a pool CA but no pool database; restore pool.db or start in an empty --data-dir.");
                poolId = Secrets.NewId("pool_");
                store.SetMeta("pool_id", poolId);
                store.SetMeta("created_at", time.GetUtcNow().ToString("O"));
                store.AddEvent(time.GetUtcNow(), "pool-created", null, $"Pool {poolId} created in {dir.Root}.");
                created = true;
            }
            PoolCertificateAuthority authority;
            if (File.Exists(dir.CaKey) && File.Exists(dir.CaCertificate))
            {
                authority = PoolCertificateAuthority.Load(dir.CaCertificate, dir.CaKey);
            }
            else
            {
                if (!created)
                    throw new PoolException($"The pool CA (ca.crt, ca.key) is missing from {dir.Root}; without it the pool's nodes cannot be recognised. Restore the files from a backup.");
                authority = PoolCertificateAuthority.Create(poolId, time);
                authority.Save(dir.CaCertificate, dir.CaKey);
                store.SetMeta("ca_sha256", authority.Fingerprint);
            }
            if (store.GetMeta("ca_sha256") is { } pinned && pinned != authority.Fingerprint)
                throw new PoolException($"ca.crt in {dir.Root} is not the CA this pool was created with; restore the original ca.crt and ca.key.");

            var adminKeyHash = store.GetMeta("admin_key_sha256");
            if (adminKeyHash is null || !File.Exists(dir.AdminKey))
            {
                var adminKey = "tsa_" + Secrets.NewSecret();
                PrivateFile.WriteAllText(dir.AdminKey, adminKey + "\n");
                adminKeyHash = Secrets.Hash(adminKey);
                store.SetMeta("admin_key_sha256", adminKeyHash);
            }

            var listen = ParseEndpoint(options.Listen ?? store.GetMeta("listen") ?? $"0.0.0.0:{CoordinatorOptions.DefaultPort}");
            var membership = new MembershipService(store, time, loggerFactory.CreateLogger<MembershipService>(), options.FailureDetector);
            var context = new CoordinatorContext
            {
                PoolId = poolId,
                Store = store,
                Authority = authority,
                Membership = membership,
                Time = time,
                AdminKeyHash = adminKeyHash,
                AdminKeyPath = dir.AdminKey,
                JoinThrottle = new Security.JoinThrottle(time),
                Dashboard = new Dashboard.DashboardSessions(time),
            };
            var serverCertificate = authority.IssueServerCertificate(["localhost", Dns.GetHostName()], LocalAddresses().Append(listen.Address), time);
            var app = Build(options, loggerFactory, context, authority, serverCertificate, listen, time);
            try
            {
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (IOException ex)
            {
                await app.DisposeAsync().ConfigureAwait(false);
                throw new PoolException($"Cannot listen on {listen}: {ex.Message}. Another coordinator may be running with this port; choose another with --listen ADDR:PORT.", inner: ex);
            }

            var port = BoundPort(app) ?? listen.Port;
            var bound = new IPEndPoint(listen.Address, port);
            store.SetMeta("listen", Format(bound));
            context.JoinAddress = options.Advertise ?? AdvertiseAddress(bound);
            context.ListenAddress = listen.Address;
            var apiHost = listen.Address.Equals(IPAddress.Any) || listen.Address.Equals(IPAddress.IPv6Any) ? "127.0.0.1" : FormatHost(listen.Address);
            var info = new CoordinatorInfo($"https://{apiHost}:{port}", context.JoinAddress, Format(bound), authority.Fingerprint, poolId, Environment.ProcessId);
            info.Save(dir.CoordinatorInfo);
            membership.Start(options.DetectorTick, options.HeartbeatFlushInterval);
            loggerFactory.CreateLogger<CoordinatorHost>().LogCoordinatorStarted(poolId, Format(bound));
            return new CoordinatorHost(app, context, store, authority, info, created, held);
        }
        catch
        {
            database.Dispose();
            held.Dispose();
            throw;
        }
    }

    private static WebApplication Build(CoordinatorOptions options, ILoggerFactory loggerFactory, CoordinatorContext context, PoolCertificateAuthority authority,
        X509Certificate2 serverCertificate, IPEndPoint listen, TimeProvider time)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = options.DataDirectory.Root, Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.AddSingleton(context);
        builder.Services.AddSingleton<Microsoft.Extensions.Hosting.IHostLifetime, ExternalLifetime>();
        builder.WebHost.UseKestrelHttpsConfiguration();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.KeepAlivePingDelay = TimeSpan.FromSeconds(5);
            kestrel.Limits.Http2.KeepAlivePingTimeout = TimeSpan.FromSeconds(10);
            kestrel.Listen(listen, listenOptions =>
            {
                listenOptions.Protocols = HttpProtocols.Http1AndHttp2;
                listenOptions.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificate = serverCertificate,
                    ClientCertificateMode = ClientCertificateMode.AllowCertificate,
                    CheckCertificateRevocation = false,
                    ClientCertificateValidation = (certificate, _, _) =>
                        CertificateChecks.CheckNode(certificate, authority.Certificate, time.GetUtcNow()).Error is null,
                    // First, so that an agent offering it and h2 gets it here and h2 from an older coordinator.
                    OnAuthenticate = (_, ssl) =>
                    {
                        if (options.OfferControlLink)
                            ssl.ApplicationProtocols?.Insert(0, ControlFrames.Protocol);
                    },
                });
                var control = new ControlLinkServer(context, loggerFactory.CreateLogger<ControlLinkServer>());
                listenOptions.Use(next => connection => ControlLinkServer.Negotiated(connection) ? control.RunAsync(connection) : next(connection));
            });
        });
        builder.Services.AddCoordinatorOpenApi();
        builder.Services.AddGrpc(grpc =>
        {
            grpc.EnableDetailedErrors = false;
            grpc.MaxReceiveMessageSize = 4 * 1024 * 1024;
        });
        var app = builder.Build();
        app.MapGrpcService<PoolAgentService>();
        PoolApi.Map(app, context);
        Dashboard.DashboardEndpoints.Map(app, context);
        options.MapEndpoints?.Invoke(app, context);
        return app;
    }

    /// <summary>Parses ADDR:PORT ("0.0.0.0:7470", "127.0.0.1:0", "[::]:7470", ":7470", "7470").</summary>
    public static IPEndPoint ParseEndpoint(string text)
    {
        text = text.Trim();
        if (int.TryParse(text, out var onlyPort))
            text = "0.0.0.0:" + onlyPort;
        if (text.StartsWith(':'))
            text = "0.0.0.0" + text;
        if (text.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
            text = "127.0.0.1" + text["localhost".Length..];
        if (IPEndPoint.TryParse(text, out var endpoint) && text.Contains(':') && endpoint.Port is >= 0 and <= 65535)
            return endpoint;
        throw new PoolException($"'{text}' is not an address to listen on: write ADDR:PORT with an IP address, e.g. 0.0.0.0:{CoordinatorOptions.DefaultPort} or 127.0.0.1:0.", exitCode: 2);
    }

    private static int? BoundPort(WebApplication app)
    {
        var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses;
        var first = addresses?.FirstOrDefault();
        return first is not null && Uri.TryCreate(first.Replace("0.0.0.0", "127.0.0.1").Replace("[::]", "[::1]"), UriKind.Absolute, out var uri) ? uri.Port : null;
    }

    private static string AdvertiseAddress(IPEndPoint bound)
    {
        if (!bound.Address.Equals(IPAddress.Any) && !bound.Address.Equals(IPAddress.IPv6Any))
            return Format(bound);
        var lan = LocalAddresses().FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a));
        return $"{FormatHost(lan ?? IPAddress.Loopback)}:{bound.Port}";
    }

    private static IEnumerable<IPAddress> LocalAddresses()
    {
        var addresses = new List<IPAddress> { IPAddress.Loopback };
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (nic.OperationalStatus != OperationalStatus.Up)
                    continue;
                foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
                {
                    if (unicast.Address.AddressFamily == AddressFamily.InterNetwork || (unicast.Address.AddressFamily == AddressFamily.InterNetworkV6 && !unicast.Address.IsIPv6LinkLocal))
                        addresses.Add(unicast.Address);
                }
            }
        }
        catch (NetworkInformationException)
        {
        }
        return addresses.Distinct();
    }

    private static string Format(IPEndPoint endpoint) => $"{FormatHost(endpoint.Address)}:{endpoint.Port}";

    private static string FormatHost(IPAddress address) =>
        address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{address}]" : address.ToString();

    public async ValueTask DisposeAsync()
    {
        // Membership first: it writes the last heartbeats and ends the agents' streams, so the
        // web host then stops at once instead of waiting for open streams.
        await Context.Membership.DisposeAsync().ConfigureAwait(false);
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await _app.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        await _app.DisposeAsync().ConfigureAwait(false);
        _store.Database.Dispose();
        _authority.Dispose();
        _lock.Dispose();
    }
}
