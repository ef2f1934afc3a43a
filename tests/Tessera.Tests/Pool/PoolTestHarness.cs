using System.Diagnostics;
using Tessera.Pool;
using Tessera.Pool.Client;

namespace Tessera.Tests.Pool;

/// <summary>A temporary folder with a coordinator and agents as real processes; everything is killed and deleted on dispose.</summary>
internal sealed class PoolTestHarness : IDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(40);
    private readonly List<TesseraProcess> _processes = [];

    public PoolTestHarness()
    {
        Root = Directory.CreateTempSubdirectory("tessera-pool-test-").FullName;
    }

    public string Root { get; }

    public string CoordinatorDir => Path.Combine(Root, "coordinator");

    public string AgentDir(string name) => Path.Combine(Root, name);

    public TesseraProcess? Coordinator { get; private set; }

    public async Task<TesseraProcess> StartCoordinatorAsync(params string[] extra)
    {
        var args = new List<string> { "pool", "start", "--data-dir", CoordinatorDir, "--speed-probe-mb", "8" };
        if (!File.Exists(Path.Combine(CoordinatorDir, "pool.db")) && !extra.Contains("--listen"))
            args.AddRange(["--listen", "127.0.0.1:0"]);
        args.AddRange(extra);
        var process = Track(TesseraProcess.Start(args));
        await process.WaitForStdoutAsync("Join another machine with", StartTimeout);
        Coordinator = process;
        return process;
    }

    /// <summary>Starts `tessera join` for <paramref name="name"/> (in <paramref name="networkNamespace"/> when given).</summary>
    public TesseraProcess StartAgent(string name, string? token, IReadOnlyList<string>? extra = null, string? networkNamespace = null)
    {
        var args = new List<string> { "join" };
        if (token is not null)
            args.Add(token);
        args.AddRange(["--name", name, "--data-dir", AgentDir(name), "--speed-probe-mb", "8"]);
        args.AddRange(extra ?? []);
        return Track(TesseraProcess.Start(args, networkNamespace));
    }

    public TesseraProcess Track(TesseraProcess process)
    {
        _processes.Add(process);
        return process;
    }

    public PoolApiClient Api() => PoolApiClient.Create(new PoolDataDirectory(CoordinatorDir), null, null, TimeProvider.System);

    /// <summary>A join token for <paramref name="uses"/> machines (the harness's pools have a few agents).</summary>
    public async Task<string> CreateTokenAsync(string ttl = "1h", int uses = 16)
    {
        using var api = Api();
        return (await api.CreateTokenAsync(ttl, "test", CancellationToken.None, uses)).Token;
    }

    public async Task<List<NodeView>> NodesAsync()
    {
        using var api = Api();
        return await api.GetNodesAsync(CancellationToken.None);
    }

    /// <summary>Polls the nodes until <paramref name="condition"/> holds; returns the time it took.</summary>
    public async Task<TimeSpan> WaitForNodesAsync(Func<List<NodeView>, bool> condition, TimeSpan timeout, string what)
    {
        var stopwatch = Stopwatch.StartNew();
        List<NodeView>? last = null;
        Exception? lastError = null;
        while (stopwatch.Elapsed < timeout)
        {
            try
            {
                last = await NodesAsync();
                if (condition(last))
                    return stopwatch.Elapsed;
            }
            catch (PoolException ex)
            {
                lastError = ex;
            }
            await Task.Delay(100);
        }
        var state = last is null ? "no answer: " + lastError?.Message : string.Join(", ", last.Select(n => $"{n.Name}={n.State}"));
        throw new TimeoutException($"Timed out after {timeout} waiting for {what}. Nodes: {state}\n{string.Join("\n", _processes.Select(p => p.Output))}");
    }

    public void Dispose()
    {
        foreach (var process in _processes)
            process.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
