using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Tessera.Identity;
using Tessera.Pool.Agent;
using Tessera.Pool.Protocol;
using Tessera.Serving;

namespace Tessera.Deploy;

/// <summary>
/// The agent's side of link measurement: it serves a <see cref="LinkProbeServer"/> from the agent's start (mutual TLS
/// with the node certificate; removed nodes' certificates refused) and, on <see cref="MeasureLinksCommand"/>, measures
/// the links to the peers named, one after the other, and answers with one <see cref="LinkReport"/>. Commands queue,
/// so at most one measurement runs at a time whatever the coordinator sends.
/// </summary>
public sealed class LinkProbeAgent : IAgentCommandHandler, IAsyncDisposable
{
    /// <summary>Most peers one command may name.</summary>
    public const int MaxTargets = 64;

    /// <summary>Most echoes per peer, and most bytes pushed per peer, a command may ask for.</summary>
    public const int MaxEchoes = 200;

    public const long MaxPushBytes = 16L << 20;

    private readonly LinkProbeServer _server;
    private readonly StageTls _tls;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private Func<AgentMessage, CancellationToken, Task> _send = static (_, _) => Task.CompletedTask;

    private LinkProbeAgent(LinkProbeServer server, StageTls tls, ILogger logger)
    {
        _server = server;
        _tls = tls;
        _logger = logger;
    }

    /// <summary>HOST:PORT peers dial (an any-address host: the coordinator substitutes the address it sees the agent at).</summary>
    public string AdvertisedEndpoint => _server.Endpoint.ToString();

    /// <summary>The port the probe listens on.</summary>
    public int Port => _server.Endpoint.Port;

    /// <param name="revocations">The certificates the agent's stages refuse (the stage supervisor's): the probe refuses them too.</param>
    /// <param name="listen">Address and port to listen on (port 0: any free one).</param>
    public static async Task<LinkProbeAgent> StartAsync(NodeIdentity identity, CertificateRevocations revocations, IPEndPoint listen, ILoggerFactory loggerFactory,
        TimeProvider time, CancellationToken cancellation = default)
    {
        var tls = new StageTls(identity.Certificate, identity.CaCertificate, time, revocations);
        var server = await LinkProbeServer.StartAsync(listen, tls, loggerFactory, cancellation).ConfigureAwait(false);
        var logger = loggerFactory.CreateLogger<LinkProbeAgent>();
        logger.LogLinkProbeListening(server.Endpoint.ToString());
        return new LinkProbeAgent(server, tls, logger);
    }

    public void Attach(Func<AgentMessage, CancellationToken, Task> send) => _send = send;

    public IReadOnlyList<AgentMessage> Snapshot() => [];

    public Task<CommandResult?> HandleAsync(Command command, CancellationToken cancellationToken)
    {
        if (command.KindCase != Command.KindOneofCase.MeasureLinks)
            return Task.FromResult<CommandResult?>(null);
        var measure = command.MeasureLinks;
        if (measure.Targets.Count > MaxTargets || measure.Echoes is < 0 or > MaxEchoes || measure.PushBytes is < 0 or > MaxPushBytes)
        {
            return Task.FromResult<CommandResult?>(new CommandResult
            {
                Ok = false,
                Error = $"a link measurement names at most {MaxTargets} peers, {MaxEchoes} echoes and {MaxPushBytes} bytes per peer",
            });
        }
        _ = MeasureAsync(command.CommandId, measure);
        return Task.FromResult<CommandResult?>(new CommandResult { Ok = true });
    }

    private async Task MeasureAsync(string commandId, MeasureLinksCommand command)
    {
        var token = _stopping.Token;
        try
        {
            await _oneAtATime.WaitAsync(token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        try
        {
            var clock = Stopwatch.StartNew();
            var budget = LinkProbeBudget.Default with
            {
                Echoes = command.Echoes > 0 ? command.Echoes : LinkProbeBudget.Default.Echoes,
                PushBytes = command.PushBytes,
            };
            var report = new LinkReport { CommandId = commandId };
            foreach (var target in command.Targets)
            {
                var m = await LinkMeasurer.MeasureAsync(target.Endpoint, _tls, budget, token).ConfigureAwait(false);
                report.Results.Add(new LinkResult
                {
                    NodeId = target.NodeId,
                    RttP50Ms = m.RttP50Ms,
                    RttP99Ms = m.RttP99Ms,
                    JitterMs = m.JitterMs,
                    Loss = m.Loss,
                    BandwidthBytesPerSecond = m.BandwidthBytesPerSecond,
                    Samples = m.Samples,
                    Error = m.Error ?? string.Empty,
                });
            }
            _logger.LogLinksMeasured(report.Results.Count, clock.Elapsed.TotalSeconds);
            await _send(new AgentMessage { LinkReport = report }, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _server.DisposeAsync().ConfigureAwait(false);
    }
}
