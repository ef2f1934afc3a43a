using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Tessera.Identity;
using Tessera.Serving;
using Tessera.Serving.Protocol;
using Tessera.Testing;

namespace Tessera.Serving.Tests;

/// <summary>The link probe over real sockets: mutual TLS as between stages, a delayed link, a dead one, a removed member.</summary>
public sealed class LinkProbeTests : IDisposable
{
    private readonly PoolCertificateAuthority _ca = PoolCertificateAuthority.Create("pool_test", TimeProvider.System);

    public void Dispose() => _ca.Dispose();

    private StageTls Member(string nodeId, CertificateRevocations? revocations = null) =>
        new(StageTlsTests.NodeCertificate(_ca, nodeId), _ca.Certificate, revocations: revocations);

    private static readonly LinkProbeBudget Quick = LinkProbeBudget.Default with { ConnectTimeout = TimeSpan.FromSeconds(2), Timeout = TimeSpan.FromSeconds(20) };

    [Fact]
    public async Task MembersMeasureEachOther_OverMutualTls()
    {
        await using var server = await LinkProbeServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), Member("node_b"));

        var m = await LinkMeasurer.MeasureAsync(server.Endpoint.ToString(), Member("node_a"), Quick);

        Assert.True(m.Reachable, m.Error);
        Assert.Equal(20, m.Samples);
        Assert.Equal(0, m.Loss);
        Assert.InRange(m.RttP50Ms, 0.001, 50);
        Assert.True(m.RttP99Ms >= m.RttP50Ms);
        // Loopback carries hundreds of MB/s when idle; a loaded CI machine measured 9.9. A transfer was timed either way.
        Assert.True(m.BandwidthBytesPerSecond > 1e6, $"{m.BandwidthBytesPerSecond / 1e6:F1} MB/s over loopback");
    }

    [Fact]
    public async Task ADelayedLink_IsMeasuredAsItsDelay()
    {
        await using var server = await LinkProbeServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), Member("node_b"));
        await using var relay = new TcpRelay(server.Endpoint, TimeSpan.FromMilliseconds(15));

        var m = await LinkMeasurer.MeasureAsync(relay.Address, Member("node_a"), Quick);

        Assert.True(m.Reachable, m.Error);
        // 15 ms each way: a round trip of 30 ms, plus the relay's scheduling, which on a loaded CI machine added up to
        // 19 ms at the median (48.8 ms measured while two builds ran beside it).
        Assert.InRange(m.RttP50Ms, 29, 75);
        Assert.Equal(20, m.Samples);
    }

    [Fact]
    public async Task ABlackHoledLink_IsUnreachable_WithinTheConnectTimeout()
    {
        await using var server = await LinkProbeServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), Member("node_b"));
        await using var relay = new TcpRelay(server.Endpoint) { BlackHoled = true };
        var clock = Stopwatch.StartNew();

        var m = await LinkMeasurer.MeasureAsync(relay.Address, Member("node_a"), Quick with { ConnectTimeout = TimeSpan.FromSeconds(1) });

        Assert.False(m.Reachable);
        Assert.Contains(relay.Address, m.Error);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(8));
    }

    [Fact]
    public async Task NothingListening_IsUnreachable_NamingTheEndpoint()
    {
        using var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var endpoint = closed.LocalEndpoint.ToString()!;
        closed.Stop();

        var m = await LinkMeasurer.MeasureAsync(endpoint, Member("node_a"), Quick);

        Assert.False(m.Reachable);
        Assert.Contains(endpoint, m.Error);
    }

    [Fact]
    public async Task ARemovedMember_CannotProbe()
    {
        var revocations = new CertificateRevocations();
        var removed = Member("node_removed");
        revocations.Replace([CertificateChecks.Fingerprint(removed.Certificate)]);
        await using var server = await LinkProbeServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), Member("node_b", revocations));

        Assert.False((await LinkMeasurer.MeasureAsync(server.Endpoint.ToString(), removed, Quick)).Reachable);
        Assert.True((await LinkMeasurer.MeasureAsync(server.Endpoint.ToString(), Member("node_a"), Quick)).Reachable);
    }

    [Fact]
    public async Task APushBeyondTheBound_IsRefused()
    {
        await using var server = await LinkProbeServer.StartAsync(new IPEndPoint(IPAddress.Loopback, 0), tls: null);
        using var channel = StageChannels.Create(server.Endpoint.ToString(), tls: null);
        using var call = new LinkProbe.LinkProbeClient(channel).Push();
        var chunk = new PushChunk { Data = Google.Protobuf.ByteString.CopyFrom(new byte[1 << 20]) };

        var e = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            for (var i = 0; i <= 64; i++)
                await call.RequestStream.WriteAsync(chunk);
            await call.RequestStream.CompleteAsync();
            await call.ResponseAsync;
        });

        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
    }
}
