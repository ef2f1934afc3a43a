using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Tessera.Distribution;
using Tessera.Engine.Synthetic;
using Tessera.Engine.Tensors;
using Tessera.Pool.State;
using Tessera.Storage;

namespace Tessera.Deploy.Tests;

/// <summary>
/// A deployment controller with substituted ports — agents, nodes, pipelines and the network — over a real pool
/// database and a real content store in a folder of its own, and a clock the test steps by hand. A small synthetic
/// model (8 layers) is written once per test run.
/// </summary>
internal sealed class DeployHarness : IAsyncDisposable
{
    private static readonly Lazy<string> SyntheticModel = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), $"tessera-deploy-tests-{Environment.ProcessId}.gguf");
        SyntheticModelWriter.Write(path, new ModelShape("deploy-test", 64, 8, 4, 2, 128, 512, 512), GgmlType.Q8_0);
        // One file per test run: removed when the run ends, so runs do not pile files up in the temp folder.
        AppDomain.CurrentDomain.ProcessExit += (_, _) => File.Delete(path);
        return path;
    });

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-deploy-");
    private readonly SqliteDatabase _database;

    private DeployHarness(DeploymentControllerOptions options)
    {
        Options = options;
        _database = PoolSchema.Open(Path.Combine(_dir.FullName, "pool.db"));
        Events = new PoolStore(_database);
        Store = new DeploymentStore(_database);
        Pipelines = new FakePipelines(Network);
        Links = NewLinkMonitor(LinkMonitorOptions.Default with { Enabled = false });
        Controller = NewController();
    }

    /// <summary>The model file every test deploys: 8 layers.</summary>
    public static string Model => SyntheticModel.Value;

    public DeploymentControllerOptions Options { get; }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 12, 1, 12, 0, 0, TimeSpan.Zero));

    public FakeAgents Agents { get; } = new();

    public FakeNetwork Network { get; } = new();

    public FakePipelines Pipelines { get; }

    /// <summary>
    /// The links deployments plan with: the coordinator's link monitor over the test's database, never started; tests
    /// store measurements with <c>Events.UpsertLink</c>.
    /// </summary>
    public LinkMonitor Links { get; }

    /// <summary>A link monitor over the harness's agents and database (not started; the harness's own is <see cref="Links"/>).</summary>
    public LinkMonitor NewLinkMonitor(LinkMonitorOptions options) =>
        new(Agents, Agents, Events, MemberTls("driver_test"), () => "10.0.0.100:7470", _ => [], options, Clock, NullLogger.Instance);

    /// <summary>The pool CA of the harness, which signs the certificates of <see cref="MemberTls"/>.</summary>
    public Tessera.Identity.PoolCertificateAuthority Ca { get; } = Tessera.Identity.PoolCertificateAuthority.Create("pool_deploy_tests", TimeProvider.System);

    /// <summary>A member's mutual-TLS identity under <see cref="Ca"/> (for real link probes on loopback).</summary>
    public Tessera.Serving.StageTls MemberTls(string nodeId)
    {
        return new Tessera.Serving.StageTls(Ca.IssueNodeCertificate(nodeId, TimeProvider.System), Ca.Certificate);
    }

    /// <summary>The pool's event log (real, in the test's SQLite file).</summary>
    public PoolStore Events { get; }

    public DeploymentStore Store { get; }

    public DeploymentController Controller { get; private set; }

    /// <summary>A controller on the harness's ports, started (its reconcile loop ticks with the clock).</summary>
    public static DeployHarness Start(DeploymentControllerOptions? options = null) => new(options ?? DeploymentControllerOptions.Default with { Improve = false });

    /// <summary>A coordinator restart: the controller is disposed (stages keep running on their agents) and a new one reads the store.</summary>
    public async Task RestartAsync()
    {
        await Controller.DisposeAsync();
        Controller = NewController();
    }

    private DeploymentController NewController()
    {
        var ports = new DeploymentPorts(Agents, Agents, Store, new PoolEventLog(Events, Clock), Pipelines, Network, () => "10.0.0.100:7470", Links: Links, Counters: Network);
        var content = new ContentStore(Path.Combine(_dir.FullName, "content"), Options.ContentLimitBytes, Clock);
        var controller = new DeploymentController(ports, new ModelFiles(content, NullLoggerFactory.Instance, Clock), NullLoggerFactory.Instance, Clock, Options);
        Agents.Report = controller.OnStageStatus;
        controller.Start();
        return controller;
    }

    /// <summary>Deploys the test model in <paramref name="stages"/> stages and waits until it serves; returns its view (with endpoints) and pipeline.</summary>
    public async Task<(DeploymentView View, FakePipeline Pipeline)> DeployAsync(string name = "m", int stages = 3, int replicas = 1)
    {
        await Controller.CreateAsync(new DeploymentRequest(Model, name, Replicas: replicas, Context: 512, MaxSessions: 2, MinStages: stages), default);
        await UntilAsync(() => Controller.Find(name)?.State == DeploymentStates.Ready, $"deployment {name} ready");
        return (Controller.Find(name)!, Pipeline(name));
    }

    /// <summary>The pipeline serving <paramref name="name"/> now (its first replica).</summary>
    public FakePipeline Pipeline(string name) => (FakePipeline)Controller.Router.Replicas(name)[0];

    /// <summary>Steps the clock (100 ms at a time) until <paramref name="condition"/> holds; fails after 20 s of real time.</summary>
    public async Task UntilAsync(Func<bool> condition, string what)
    {
        var started = Stopwatch.StartNew();
        while (!condition())
        {
            if (started.Elapsed > TimeSpan.FromSeconds(20))
                Assert.Fail($"Timed out waiting for {what} (clock at {Clock.GetUtcNow():HH:mm:ss.fff}).");
            Clock.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(2);
        }
    }

    /// <summary>Steps the clock until <paramref name="task"/> completes, then returns its result.</summary>
    public async Task<T> DriveAsync<T>(Task<T> task)
    {
        await UntilAsync(() => task.IsCompleted, "the operation to finish");
        return await task;
    }

    /// <summary>Steps the clock by <paramref name="time"/>, in steps that let background work run.</summary>
    public async Task PassAsync(TimeSpan time)
    {
        for (var passed = TimeSpan.Zero; passed < time; passed += TimeSpan.FromMilliseconds(100))
        {
            Clock.Advance(TimeSpan.FromMilliseconds(100));
            await Task.Delay(2);
        }
    }

    /// <summary>The messages of the events of <paramref name="kind"/>, oldest first.</summary>
    public IReadOnlyList<string> EventsOf(string kind) => Events.ListEvents(limit: 1000).Where(e => e.Kind == kind).Select(e => e.Message).ToList();

    public async ValueTask DisposeAsync()
    {
        await Controller.DisposeAsync();
        _database.Dispose();
        Ca.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        _dir.Delete(recursive: true);
    }
}
