using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Tessera.Generation;
using Tessera.Generation.Tools;
using Tessera.Serving;

namespace Tessera.Deploy.Tests;

/// <summary>
/// Which stage endpoints the coordinator reaches: all, but those the test cuts off (a black-holed port, a firewall).
/// The controller probes through it; substituted pipelines open their stages through it. It also answers the
/// controller's reads of stages' counters: each read of a stage finds <see cref="PassesPerRead"/> more decoding passes,
/// each taking what <see cref="SecondsPerPass"/> says for that endpoint (none: the stage does not answer).
/// </summary>
internal sealed class FakeNetwork : IStageReachability, IStageCounters
{
    private readonly ConcurrentDictionary<string, StageCounters> _counters = new(StringComparer.Ordinal);

    /// <summary>Seconds one decoding pass takes at a stage's endpoint; null (or a null answer): the stage does not answer.</summary>
    public Func<string, double?>? SecondsPerPass { get; set; }

    /// <summary>Seconds a stage waits for the next one's answer to a decoding step (null: it counts no waits, as the last stage).</summary>
    public Func<string, double?>? WaitSecondsPerStep { get; set; }

    /// <summary>Decoding passes a stage makes between two reads of its counters.</summary>
    public int PassesPerRead { get; set; } = 40;

    public Task<StageCounters?> ReadAsync(string endpoint, TimeSpan timeout, CancellationToken cancellation)
    {
        if (!Reaches(endpoint) || SecondsPerPass?.Invoke(endpoint) is not { } seconds)
            return Task.FromResult<StageCounters?>(null);
        var wait = WaitSecondsPerStep?.Invoke(endpoint);
        var now = _counters.AddOrUpdate(endpoint, _ => new StageCounters(0, 0),
            (_, c) => new StageCounters(c.DecodePasses + PassesPerRead, c.DecodeSeconds + PassesPerRead * seconds,
                c.DecodeWaits + (wait is null ? 0 : PassesPerRead), c.DecodeWaitSeconds + PassesPerRead * (wait ?? 0)));
        return Task.FromResult<StageCounters?>(now);
    }

    private readonly ConcurrentDictionary<string, bool> _cut = new(StringComparer.Ordinal);

    /// <summary>Probes so far, by endpoint.</summary>
    public ConcurrentQueue<string> Probes { get; } = new();

    public void Cut(string endpoint) => _cut[endpoint] = true;

    public bool Reaches(string endpoint) => !_cut.ContainsKey(endpoint);

    public Task<string?> ProblemAsync(string endpoint, TimeSpan timeout, CancellationToken cancellation)
    {
        Probes.Enqueue(endpoint);
        return Task.FromResult(Reaches(endpoint) ? null : "deadline exceeded");
    }
}

/// <summary>Connects substituted pipelines (<see cref="FakePipeline"/>), which stand in for gRPC drivers through real stages.</summary>
internal sealed class FakePipelines(FakeNetwork network) : IPipelineConnector
{
    /// <summary>Every pipeline connected, in order.</summary>
    public ConcurrentQueue<FakePipeline> Connected { get; } = new();

    public Task<IPipelineService> ConnectAsync(PipelineTarget target, IReadOnlyList<string> endpoints, IPipelineRecovery recovery, CancellationToken cancellation)
    {
        if (endpoints.FirstOrDefault(e => !network.Reaches(e)) is { } unreachable)
            throw new PipelineException($"Stage at {unreachable} cannot be reached: deadline exceeded") { Endpoint = unreachable };
        var pipeline = new FakePipeline(target, endpoints, recovery, network);
        Connected.Enqueue(pipeline);
        return Task.FromResult<IPipelineService>(pipeline);
    }
}

/// <summary>
/// A pipeline as the controller sees one: it serves the deployment's name, breaks when the test says (calling the
/// controller's recovery as the driver does: up to three tries, each try's new stages opened through the network,
/// the stage that could not be opened named in the next try), and moves when the controller says.
/// </summary>
internal sealed class FakePipeline(PipelineTarget target, IReadOnlyList<string> endpoints, IPipelineRecovery recovery, FakeNetwork network) : IPipelineService
{
    public const int MaxReplaceAttempts = 3;
    private readonly ServedModel _model = new(target.Name, 512, "tessera", DateTimeOffset.UnixEpoch);
    private int _recoveries;
    private int _failedRecoveries;
    private int _moves;

    public IReadOnlyList<string> Endpoints { get; private set; } = endpoints;

    /// <summary>Every pipeline it ran on, the first included.</summary>
    public List<IReadOnlyList<string>> History { get; } = [endpoints];

    /// <summary>The failures it asked its recovery about, one per try.</summary>
    public List<PipelineFailure> Failures { get; } = [];

    public string? Failure { get; private set; }

    public int ActiveSessions { get; set; }

    public bool Disposed { get; private set; }

    public PipelineRecoveryStatistics RecoveryStatistics => new(_recoveries, _failedRecoveries, _recoveries + _moves, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(100)) { Moves = _moves };

    /// <summary>
    /// A stage broke (<paramref name="unreachable"/>: the one its upstream could not reach): asks the recovery for a
    /// new pipeline until one opens, up to <see cref="MaxReplaceAttempts"/> tries; returns whether one did. <paramref name="stalled"/>:
    /// the lane stopped making progress and <paramref name="unreachable"/> did not answer the driver.
    /// </summary>
    public async Task<bool> BreakAsync(string reason, string? unreachable, bool stalled = false)
    {
        for (var attempt = 1; attempt <= MaxReplaceAttempts; attempt++)
        {
            var failure = new PipelineFailure(Endpoints, reason, attempt) { UnreachableEndpoint = unreachable, Stalled = stalled };
            Failures.Add(failure);
            try
            {
                var next = await recovery.ReplaceAsync(failure, CancellationToken.None);
                if (next.FirstOrDefault(e => !network.Reaches(e)) is { } closed)
                {
                    unreachable = closed;
                    reason = $"Stage at {closed} cannot be reached";
                    continue;
                }
                Endpoints = next;
                History.Add(next);
                _recoveries++;
                return true;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                reason = e.Message;
            }
        }
        _failedRecoveries++;
        Failure = $"The pipeline failed and no replacement could be started ({reason}); retry the request.";
        return false;
    }

    public Task<bool> MoveToAsync(IReadOnlyList<string> endpoints, CancellationToken cancellation)
    {
        Endpoints = endpoints;
        History.Add(endpoints);
        _moves++;
        return Task.FromResult(true);
    }

    public IReadOnlyList<ServedModel> ListModels() => [_model];

    public ServedModel? FindModel(string id) => id == target.Name ? _model : null;

    public bool HasRoom(string model) => true;

    public int[] TokenizeChat(string model, IReadOnlyList<ChatMessage> messages, ChatTools? tools = null) => [1, 2, 3];

    public int[] TokenizePrompt(string model, string prompt) => [1, 2, 3];

    public byte[]? TokenBytes(string model, int tokenId) => null;

    public async IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options, [EnumeratorCancellation] CancellationToken cancellation)
    {
        await Task.Yield();
        yield return new GeneratedToken(7, "ok", -0.1f, null, FinishReason.Stop);
    }

    public Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<int[]> inputs, EmbeddingOptions options, CancellationToken cancellation) =>
        Task.FromResult(new EmbeddingResult(inputs.Select(_ => new[] { 1f }).ToList(), inputs.Sum(i => i.Length)));

    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return ValueTask.CompletedTask;
    }
}
