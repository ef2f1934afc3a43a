using System.Security.Cryptography;
using Grpc.Core;
using Tessera.Engine.Model;
using Tessera.Generation;
using Tessera.Identity;
using Tessera.Serving;
using Tessera.Serving.Protocol;
using Tessera.Testing;

namespace Tessera.Serving.Tests;

/// <summary>
/// Who may open lanes on a stage, and toward where: only holders of a route ticket signed with the deployment's key,
/// only along the route it names; and a revoked certificate loses its open lanes and cannot open new ones.
/// </summary>
public sealed class StageAccessTests
{
    private static readonly string Model = TestPaths.Model("tiny-a-q8_0.gguf");
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(RouteTickets.KeyBytes);
    private static readonly DateTimeOffset Now = DateTimeOffset.Parse("2026-12-06T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture);

    private static StageInput Lane(params string[] route)
    {
        var first = new StageInput();
        first.Route.Add(route);
        return first;
    }

    [Fact]
    public void Ticket_OpensEveryHopOfItsRoute_AndNothingElse()
    {
        string[] pipeline = ["10.0.0.1:7001", "10.0.0.2:7001", "10.0.0.3:7001"];
        var atFirst = Lane("10.0.0.2:7001", "10.0.0.3:7001");
        RouteTickets.Stamp(atFirst, Key, "dep_1", pipeline, Now);
        Assert.Null(RouteTickets.Check(atFirst, Key, Now));

        // Each stage passes the ticket on with the rest of the route.
        var atSecond = Lane("10.0.0.3:7001");
        (atSecond.Ticket, atSecond.TicketMac) = (atFirst.Ticket, atFirst.TicketMac);
        Assert.Null(RouteTickets.Check(atSecond, Key, Now));
        var atLast = Lane();
        (atLast.Ticket, atLast.TicketMac) = (atFirst.Ticket, atFirst.TicketMac);
        Assert.Null(RouteTickets.Check(atLast, Key, Now.AddMinutes(14)));

        var elsewhere = Lane("10.9.9.9:7001");
        (elsewhere.Ticket, elsewhere.TicketMac) = (atFirst.Ticket, atFirst.TicketMac);
        Assert.Contains("does not allow", RouteTickets.Check(elsewhere, Key, Now));
        var longer = Lane("10.0.0.1:7001", "10.0.0.2:7001", "10.0.0.3:7001");
        (longer.Ticket, longer.TicketMac) = (atFirst.Ticket, atFirst.TicketMac);
        Assert.Contains("longer", RouteTickets.Check(longer, Key, Now));

        Assert.Contains("expired", RouteTickets.Check(atFirst, Key, Now + RouteTickets.Lifetime + RouteTickets.ClockSkew + TimeSpan.FromSeconds(1)));
        Assert.Contains("not signed", RouteTickets.Check(atFirst, RandomNumberGenerator.GetBytes(32), Now));
        Assert.Contains("no route ticket", RouteTickets.Check(Lane("10.0.0.2:7001"), Key, Now));

        var forged = atFirst.Clone();
        var bytes = forged.Ticket.ToByteArray();
        bytes[^1] ^= 1; // e.g. a later expiry
        forged.Ticket = Google.Protobuf.ByteString.CopyFrom(bytes);
        Assert.Contains("not signed", RouteTickets.Check(forged, Key, Now));
    }

    [Fact]
    public async Task StagesWithARouteKey_ServeOnlyTicketedLanes_AlongTheirRoute()
    {
        await using var pipeline = await InProcessPipeline.StartWithAsync(Model, ActivationFormat.F32, o => o with { RouteKey = Key }, "0-2", "2-4");
        var tickets = new RouteTicketIssuer(Key, "dep_1");
        await using (var driver = await PipelineDriver.ConnectAsync(pipeline.Endpoints, new PipelineDriverOptions { Tickets = tickets }))
        {
            var count = 0;
            await foreach (var _ in driver.GenerateAsync(new PipelineRequest([1, 450, 4996], SamplingParameters.Greedy, 4)))
                count++;
            Assert.Equal(4, count);
        }

        // No ticket, a ticket of another key, and a valid ticket with the route bent toward another endpoint.
        var bare = Lane(pipeline.Endpoints[1]);
        var foreign = Lane(pipeline.Endpoints[1]);
        new RouteTicketIssuer(RandomNumberGenerator.GetBytes(32), "dep_1").Stamp(foreign, pipeline.Endpoints);
        var bent = Lane("127.0.0.1:9");
        tickets.Stamp(bent, pipeline.Endpoints);
        foreach (var (first, reason) in new[] { (bare, "no route ticket"), (foreign, "not signed"), (bent, "does not allow") })
        {
            var e = await Assert.ThrowsAsync<RpcException>(() => OpenLaneAsync(pipeline.Endpoints[0], null, first));
            Assert.Equal(StatusCode.PermissionDenied, e.StatusCode);
            Assert.Contains(reason, e.Status.Detail);
        }
    }

    /// <summary>Opens a lane with <paramref name="first"/> and a session, and reads until the stage answers or ends it.</summary>
    private static async Task<StageOutput?> OpenLaneAsync(string endpoint, StageTls? tls, StageInput first)
    {
        using var channel = StageChannels.Create(endpoint, tls);
        using var call = new Stage.StageClient(channel).Run();
        first.Opens.Add(new SessionOpen { Session = 1, Sampling = SamplingWire.ToWire(SamplingParameters.Greedy) });
        await call.RequestStream.WriteAsync(first);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return await call.ResponseStream.MoveNext(timeout.Token) ? call.ResponseStream.Current : null;
    }

    [Fact]
    public async Task RevokingACertificate_EndsItsOpenLanes_AndRefusesNewOnes()
    {
        using var ca = PoolCertificateAuthority.Create("pool_test", TimeProvider.System);
        var revocations = new CertificateRevocations();
        await using var stage = await StageServer.StartAsync(new StageServerOptions
        {
            ModelPath = Model,
            Layers = LayerRange.Parse("0-4"),
            Threads = 1,
            ContextLength = 128,
            Tls = new StageTls(StageTlsTests.NodeCertificate(ca, "node_stage"), ca.Certificate, revocations: revocations),
        });
        var removed = new StageTls(StageTlsTests.NodeCertificate(ca, "node_removed"), ca.Certificate);
        var member = new StageTls(StageTlsTests.NodeCertificate(ca, "node_member"), ca.Certificate);

        // An idle lane of the node about to be removed, and one of a member, both open.
        using var channel = StageChannels.Create(stage.Address, removed);
        using var open = new Stage.StageClient(channel).Run();
        await open.RequestStream.WriteAsync(new StageInput { Opens = { new SessionOpen { Session = 1, Sampling = SamplingWire.ToWire(SamplingParameters.Greedy) } } });
        using var memberChannel = StageChannels.Create(stage.Address, member);
        using var memberLane = new Stage.StageClient(memberChannel).Run();
        await memberLane.RequestStream.WriteAsync(new StageInput { Opens = { new SessionOpen { Session = 1, Sampling = SamplingWire.ToWire(SamplingParameters.Greedy) } } });
        await WaitForAsync(() => stage.Host.LiveSessions == 2);

        revocations.Replace([CertificateChecks.Fingerprint(removed.Certificate)]);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var ended = await Assert.ThrowsAsync<RpcException>(async () => await open.ResponseStream.MoveNext(timeout.Token));
        Assert.Equal(StatusCode.Unavailable, ended.StatusCode);
        Assert.Contains("revoked", ended.Status.Detail);

        // A new lane on the same HTTP/2 connection (no new handshake), and a new connection: both refused.
        using var again = new Stage.StageClient(channel).Run();
        var refused = await EndOfLaneAsync(again, timeout.Token);
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        // The TLS handshake itself fails (as a transport error, Unavailable, or Internal "Error starting gRPC call" when
        // the client sees the connection end before the HTTP/2 preface: depending on where it notices).
        var fresh = await Record.ExceptionAsync(() => OpenLaneAsync(stage.Address, removed, new StageInput()));
        Assert.True(fresh is RpcException { StatusCode: StatusCode.Unavailable } or RpcException { StatusCode: StatusCode.Internal, Status.DebugException: HttpRequestException }
            or HttpRequestException or IOException, $"got {fresh}");

        // The member's lane is untouched: its session still generates.
        var work = new StageInput();
        work.Work.Add(new WorkEntry { Session = 1, Start = 0, Tokens = { 1, 450, 4996 }, SampleStep = 0 });
        await memberLane.RequestStream.WriteAsync(work);
        Assert.True(await memberLane.ResponseStream.MoveNext(timeout.Token));
        Assert.Single(memberLane.ResponseStream.Current.Tokens);
        Assert.Equal(1, stage.Host.LiveSessions);
    }

    /// <summary>How the stage ends a lane it refuses: the answer may come while the first message is still being written.</summary>
    private static async Task<RpcException> EndOfLaneAsync(AsyncDuplexStreamingCall<StageInput, StageOutput> call, CancellationToken cancellation)
    {
        try
        {
            await call.RequestStream.WriteAsync(new StageInput(), cancellation);
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
        {
            // the answer is in the response stream
        }
        return await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(cancellation));
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("condition not reached");
            await Task.Delay(20);
        }
    }
}
