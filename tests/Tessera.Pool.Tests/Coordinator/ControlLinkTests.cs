using System.IO.Pipelines;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Tessera.Identity;
using Tessera.Pool.Agent;
using Tessera.Pool.Control;
using Tessera.Pool.Coordinator;
using Tessera.Pool.Membership;
using Tessera.Pool.Protocol;
using Tessera.Pool.Security;

namespace Tessera.Pool.Tests.Coordinator;

/// <summary>
/// The control link against a real coordinator on a loopback port: the wire protocol spoken by hand (TLS with the
/// ALPN id, framed messages), then agents that use it, fall back from it, and stop when refused on it.
/// </summary>
public sealed class ControlLinkTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-control-link-");
    private readonly TimeProvider _time = TimeProvider.System;
    private CoordinatorHost _host = null!;

    public async Task InitializeAsync() => _host = await StartAsync("pool", offerControlLink: true);

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        _dir.Delete(recursive: true);
    }

    private Task<CoordinatorHost> StartAsync(string name, bool offerControlLink) =>
        CoordinatorHost.StartAsync(new CoordinatorOptions
        {
            DataDirectory = new PoolDataDirectory(Path.Combine(_dir.FullName, name)),
            Listen = "127.0.0.1:0",
            OfferControlLink = offerControlLink,
        }, NullLoggerFactory.Instance, _time, CancellationToken.None);

    private async Task<NodeIdentity> JoinAsync(CoordinatorHost host, string name)
    {
        var (_, token) = host.Context.CreateToken(TimeSpan.FromHours(1), "control link test");
        return await JoinClient.JoinAsync(JoinToken.Parse(token), Path.Combine(_dir.FullName, "agents", name), name,
            new Protocol.Hardware { CpuModel = "cpu", LogicalCores = 2 }, _time, CancellationToken.None);
    }

    /// <summary>A TLS connection to the coordinator offering only the control link, with <paramref name="certificate"/> or none.</summary>
    private async Task<(SslStream Tls, PipeReader Input, PipeWriter Output)> DialAsync(X509Certificate2? certificate)
    {
        var address = new Uri("https://" + _host.Context.JoinAddress);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(address.DnsSafeHost, address.Port);
        var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [ControlFrames.Protocol],
            ClientCertificates = certificate is null ? null : [certificate],
            LocalCertificateSelectionCallback = certificate is null ? null : (_, _, _, _, _) => certificate,
            RemoteCertificateValidationCallback = CertificateChecks.CoordinatorValidation(_host.Context.Authority.Certificate, _time),
        });
        Assert.Equal(ControlFrames.Protocol, tls.NegotiatedApplicationProtocol);
        return (tls, PipeReader.Create(tls), PipeWriter.Create(tls));
    }

    private static async Task<CoordinatorMessage?> ReadAsync(PipeReader input)
    {
        using var timeout = new CancellationTokenSource(Patience);
        return await ControlFrames.ReadAsync(input, CoordinatorMessage.Parser, timeout.Token);
    }

    private async Task WaitForStateAsync(string nodeId, NodeState state)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (_host.Context.Membership.Get(nodeId)?.State != state)
        {
            Assert.True(DateTime.UtcNow < deadline, $"node {nodeId} is {_host.Context.Membership.Get(nodeId)?.State}, not {state}, after {Patience.TotalSeconds} s");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task AMember_IsWelcomed_AndItsHeartbeatsAcknowledged_OnTheControlLink_AndABadHelloIsRefusedWithAFrame()
    {
        using var identity = await JoinAsync(_host, "wire");
        var (tls, input, output) = await DialAsync(identity.Certificate);
        await using (tls)
        {
            await ControlFrames.WriteAsync(output, new AgentMessage { Hello = new Hello { Name = "wire" } }, CancellationToken.None);
            var welcome = (await ReadAsync(input))!.Welcome;
            Assert.Equal((identity.NodeId, _host.Context.PoolId, 1000), (welcome.NodeId, welcome.PoolId, welcome.HeartbeatIntervalMs));

            await ControlFrames.WriteAsync(output, new AgentMessage { Heartbeat = new Heartbeat { Sequence = 7, Metrics = new Metrics { CpuBusyPercent = 12 } } }, CancellationToken.None);
            var ack = (await ReadAsync(input))!.HeartbeatAck;
            Assert.Equal(7, ack.Sequence);
            await WaitForStateAsync(identity.NodeId, NodeState.Ready);
        }

        // Closing the connection disconnects the node (suspect, then down, as with any lost agent).
        var deadline = DateTime.UtcNow + Patience;
        while (_host.Context.Membership.Get(identity.NodeId)!.State == NodeState.Ready)
        {
            Assert.True(DateTime.UtcNow < deadline, "the node stayed ready after its control link closed");
            await Task.Delay(50);
        }

        // What the join refuses, the hello refuses: it would rename the node. The refusal is a frame, then the end.
        var (tls2, input2, output2) = await DialAsync(identity.Certificate);
        await using (tls2)
        {
            await ControlFrames.WriteAsync(output2, new AgentMessage { Hello = new Hello { Name = "evil\r\nnode" } }, CancellationToken.None);
            var refused = (await ReadAsync(input2))!.Refused;
            Assert.Equal(RefusalCode.InvalidArgument, refused.Code);
            Assert.StartsWith("The Hello message was refused: ", refused.Message);
            Assert.Null(await ReadAsync(input2));
        }
        Assert.Equal("wire", _host.Context.Membership.Get(identity.NodeId)!.Name);
    }

    [Fact]
    public async Task AControlLinkWithoutANodeCertificate_IsRefusedUnauthenticated_AndClosed()
    {
        var (tls, input, _) = await DialAsync(null);
        await using (tls)
        {
            var refused = (await ReadAsync(input))!.Refused;
            Assert.Equal(RefusalCode.Unauthenticated, refused.Code);
            Assert.Contains("tessera join TOKEN", refused.Message);
            Assert.Null(await ReadAsync(input));
        }
    }

    [Fact]
    public async Task AnAgent_BecomesReadyOnTheControlLink_AndOnceRemoved_StopsRefused_InsteadOfRetrying()
    {
        using var identity = await JoinAsync(_host, "agent");
        var options = new AgentOptions
        {
            DataDirectory = Path.Combine(_dir.FullName, "agents", "agent"),
            Hardware = () => new Protocol.Hardware { CpuModel = "cpu", LogicalCores = 2 },
            Metrics = () => new Metrics(),
            Transport = AgentTransport.Control,
        };
        using (var stop = new CancellationTokenSource())
        {
            var run = new AgentRunner(identity, options, _time, NullLogger.Instance).RunAsync(stop.Token);
            await WaitForStateAsync(identity.NodeId, NodeState.Ready);
            await stop.CancelAsync();
            Assert.Equal(AgentExitReason.Stopped, (await run.WaitAsync(Patience)).Reason);
        }

        _host.Context.Membership.Remove(identity.NodeId);
        var exit = await new AgentRunner(identity, options, _time, NullLogger.Instance).RunAsync(CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(AgentExitReason.Refused, exit.Reason);
        Assert.Contains("was removed from the pool", exit.Message);
    }

    [Fact]
    public async Task AnAgent_FallsBackToGrpc_WhenTheCoordinatorDoesNotOfferTheControlLink_AndGrpcAloneStillWorks()
    {
        await using var older = await StartAsync("older", offerControlLink: false);
        using var identity = await JoinAsync(older, "fallback");
        Assert.Null(await ControlCoordinatorLink.ConnectAsync(older.Context.JoinAddress, identity.CaCertificate, identity.Certificate, _time, CancellationToken.None));

        foreach (var (host, transport) in new[] { (older, AgentTransport.Auto), (_host, AgentTransport.Grpc) })
        {
            using var member = host == older ? null : await JoinAsync(host, "grpc");
            var who = member ?? identity;
            using var stop = new CancellationTokenSource();
            var options = new AgentOptions
            {
                DataDirectory = Path.Combine(_dir.FullName, "agents", who.File.Name),
                Hardware = () => new Protocol.Hardware { CpuModel = "cpu", LogicalCores = 2 },
                Metrics = () => new Metrics(),
                Transport = transport,
            };
            var run = new AgentRunner(who, options, _time, NullLogger.Instance).RunAsync(stop.Token);
            var deadline = DateTime.UtcNow + Patience;
            while (host.Context.Membership.Get(who.NodeId)?.State != NodeState.Ready)
            {
                Assert.True(DateTime.UtcNow < deadline, $"{transport} agent not ready");
                await Task.Delay(50);
            }
            await stop.CancelAsync();
            await run.WaitAsync(Patience);
        }
    }
}
