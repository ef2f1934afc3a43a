using Tessera.Engine.Model;
using Tessera.Serving;
using Tessera.Serving.Protocol;

namespace Tessera.Serving.Tests;

/// <summary>Stage servers in this process on loopback ports chosen at run time, chained by a driver's route.</summary>
internal sealed class InProcessPipeline : IAsyncDisposable
{
    private InProcessPipeline(List<StageServer> servers) => Servers = servers;

    public List<StageServer> Servers { get; }

    public IReadOnlyList<string> Endpoints => Servers.Select(s => s.Address).ToList();

    public static Task<InProcessPipeline> StartAsync(string model, ActivationFormat format, params string[] ranges) =>
        StartWithAsync(model, format, o => o, ranges);

    /// <summary>Like <see cref="StartAsync"/>, with each stage's options changed by <paramref name="configure"/>.</summary>
    public static async Task<InProcessPipeline> StartWithAsync(string model, ActivationFormat format, Func<StageServerOptions, StageServerOptions> configure, params string[] ranges)
    {
        var servers = new List<StageServer>();
        try
        {
            foreach (var range in ranges)
            {
                servers.Add(await StageServer.StartAsync(configure(new StageServerOptions
                {
                    ModelPath = model,
                    Layers = LayerRange.Parse(range),
                    Activations = format,
                    Threads = 1,
                    ContextLength = 512,
                    AllowPlaintext = true,
                })));
            }
            return new InProcessPipeline(servers);
        }
        catch
        {
            foreach (var s in servers)
                await s.DisposeAsync();
            throw;
        }
    }

    public int LiveSessions => Servers.Sum(s => s.Host.LiveSessions);

    /// <summary>Waits until no stage holds a session (closes travel asynchronously).</summary>
    public async Task WaitForNoSessionsAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (LiveSessions != 0)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"Stages still hold sessions: {string.Join(", ", Servers.Select(s => s.Host.LiveSessions))}");
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var s in Servers)
            await s.DisposeAsync();
    }
}

/// <summary>A recovery that starts a fresh in-process stage (f32 activations) for <paramref name="range"/> in place of stage <paramref name="index"/>.</summary>
internal sealed class InProcessStageReplacement(InProcessPipeline pipeline, string model, Index index, string range) : IPipelineRecovery
{
    public List<PipelineFailure> Calls { get; } = [];

    public static Task<StageServer> StartStageAsync(string model, string range, CancellationToken cancellation = default) => StageServer.StartAsync(new StageServerOptions
    {
        ModelPath = model,
        Layers = LayerRange.Parse(range),
        Activations = ActivationFormat.F32,
        Threads = 1,
        ContextLength = 512,
        AllowPlaintext = true,
    }, cancellation: cancellation);

    public async Task<IReadOnlyList<string>> ReplaceAsync(PipelineFailure failure, CancellationToken cancellation)
    {
        Calls.Add(failure);
        var server = await StartStageAsync(model, range, cancellation);
        pipeline.Servers.Add(server);
        var endpoints = failure.Endpoints.ToArray();
        endpoints[index] = server.Address;
        return endpoints;
    }
}
