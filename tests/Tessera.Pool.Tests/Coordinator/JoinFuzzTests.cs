using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Tessera.Identity;
using Tessera.Pool.Agent;
using Tessera.Pool.Coordinator;
using Tessera.Pool.Protocol;
using Tessera.Pool.Security;
using Tessera.Testing;
using Xunit.Abstractions;

namespace Tessera.Pool.Tests.Coordinator;

/// <summary>
/// Join requests with mutated credentials, signing requests and descriptions, sent over gRPC to a real coordinator:
/// every answer must be the status the request deserves, with a message and no stack trace (never Internal or
/// Unknown); no request without the token's secret and a sound signing request may admit a node; the pool must hold
/// exactly the nodes admitted, and still admit a genuine join at the end. The coordinator's clock is stepped by hand,
/// so the join throttle is asserted as well: after <see cref="JoinThrottle.MaxFailures"/> failures it must answer
/// ResourceExhausted; then the clock passes its window and the same request is sent again, so the throttle hides none
/// of the handler's answers.
/// </summary>
public sealed class JoinFuzzTests(ITestOutputHelper output) : IAsyncLifetime
{
    public const int Seed = 15;

    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("tessera-join-fuzz-");
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private CoordinatorHost _host = null!;
    private GrpcChannel _channel = null!;
    private PoolAgent.PoolAgentClient _client = null!;

    /// <summary>What a node's admission is checked against: the request's key, and the token that admitted it.</summary>
    private sealed record Admitted(JoinResponse Response, byte[] PublicKey, string TokenId);

    private readonly List<Admitted> _admitted = [];

    private enum Case
    {
        UnknownToken,
        WrongSecret,
        ClosedToken,
        BadCsr,
        OtherKey,
        OddDescription,
        Empty,
        RawBytes,
    }

    private sealed record Credential(string Id, string Secret);

    private Credential _open = null!;
    private Credential _expired = null!;
    private Credential _revoked = null!;
    private Credential _usedUp = null!;

    public async Task InitializeAsync()
    {
        _host = await CoordinatorHost.StartAsync(new CoordinatorOptions { DataDirectory = new PoolDataDirectory(_dir.FullName), Listen = "127.0.0.1:0" },
            NullLoggerFactory.Instance, _time, CancellationToken.None);
        _channel = CoordinatorChannel.Create(_host.Context.JoinAddress, _host.Context.Authority.Certificate, null, _time);
        _client = new PoolAgent.PoolAgentClient(_channel);

        _expired = Token(TimeSpan.FromMinutes(1));
        _time.Advance(TimeSpan.FromMinutes(2));
        _open = Token(TimeSpan.FromDays(30), uses: CoordinatorContext.MaxTokenUses);
        _revoked = Token(TimeSpan.FromDays(1));
        Assert.True(_host.Context.Store.RevokeToken(_revoked.Id, _time.GetUtcNow()));
        _usedUp = Token(TimeSpan.FromDays(1));
        await GenuineJoinAsync(_usedUp, "first");
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _host.DisposeAsync();
        _dir.Delete(recursive: true);
    }

    private Credential Token(TimeSpan ttl, int uses = 1)
    {
        var (_, text) = _host.Context.CreateToken(ttl, "fuzz", uses);
        var token = JoinToken.Parse(text);
        return new Credential(token.Id, token.Secret);
    }

    private async Task GenuineJoinAsync(Credential token, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new JoinRequest { TokenId = token.Id, TokenSecret = token.Secret, CsrDer = Csr(key), Name = name, Hardware = new Protocol.Hardware { CpuModel = "cpu" } };
        var response = await _client.JoinAsync(request, deadline: DateTime.UtcNow.AddSeconds(30));
        Assert.Null(Admit(response, request, token.Id));
        Assert.Equal(name, response.Name);
    }

    [Fact]
    public async Task MutatedJoins_GetTheAnswerTheyDeserve_OnlyTheSecretWithASoundCsrAdmits_AndAGenuineJoinStillSucceeds()
    {
        var run = FuzzBudget.FromEnvironment(iterations: 300, TimeSpan.FromSeconds(60), Seed).Start();
        var statuses = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var (failed, throttled) = (0, 0);
        foreach (var (index, rng) in run.Inputs())
        {
            var (kind, what, request, raw, expected) = Make(rng);
            // Only a message gRPC reads and parses reaches the handler, and with it the throttle.
            var reachesHandler = (raw is null ? request!.CalculateSize() : raw.Length) <= MaxMessageBytes && (raw is null || TryParse(raw) is not null);
            var (status, response) = await SendAsync(request, raw);
            if (failed >= JoinThrottle.MaxFailures && reachesHandler)
            {
                // The throttle's answer, then its window passes and the same request goes to the handler.
                throttled++;
                if (status.StatusCode != StatusCode.ResourceExhausted || !status.Detail.Contains("too many failed join attempts", StringComparison.Ordinal))
                    run.Fail(index, $"{what}: after {failed} failures answered {status.StatusCode} '{status.Detail}', not the throttle's ResourceExhausted");
                _time.Advance(JoinThrottle.Window + TimeSpan.FromSeconds(1));
                failed = 0;
                (status, response) = await SendAsync(request, raw);
            }
            var key = $"{kind} {status.StatusCode}";
            statuses[key] = statuses.GetValueOrDefault(key) + 1;
            if (reachesHandler && status.StatusCode is StatusCode.PermissionDenied or StatusCode.InvalidArgument)
                failed++;
            if (Problem(status, response, request, raw, expected) is { } problem)
                run.Fail(index, $"{what}: {problem}");
        }

        run.AssertNoFailures(output, $"{string.Join(", ", statuses.Select(s => $"{s.Key}: {s.Value}"))}; throttled {throttled} times; {_admitted.Count} nodes admitted", minimum: 50);
        Assert.True(throttled > 0, "the throttle never answered");

        // The coordinator still works: a fresh token admits a machine, and the pool holds exactly the admitted nodes.
        _time.Advance(JoinThrottle.Window + TimeSpan.FromSeconds(1));
        await GenuineJoinAsync(Token(TimeSpan.FromHours(1)), "last");
        AssertPoolHoldsExactlyTheAdmittedNodes();
        await AssertAdminApiListsThemAsync();
    }

    // Found by the fuzzing above: bytes that are not a JoinRequest were answered Unknown ("Exception was thrown by handler.").
    [Fact]
    public async Task Join_WithBytesThatAreNotAMessage_IsInvalidArgumentNamingTheMessage()
    {
        var (status, _) = await SendAsync(null, [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);

        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.Contains("The JoinRequest message is malformed", status.Detail);
        await GenuineJoinAsync(_open, "after");
    }

    // Found by the fuzzing above: a NaN speed from one joining machine made every GET /api/nodes break off.
    [Fact]
    public async Task Join_WithMeasurementsThatAreNotFinite_IsAdmittedAsNotMeasured_AndTheNodeListStaysReadable()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new JoinRequest
        {
            TokenId = _open.Id, TokenSecret = _open.Secret, CsrDer = Csr(key), Name = "nan",
            Hardware = new Protocol.Hardware { CpuSpeedGbps = double.NaN, Gpus = { new Gpu { SpeedGbps = double.PositiveInfinity, UtilizationPercent = double.NaN } } },
        };

        Assert.Null(Admit(await _client.JoinAsync(request), request, _open.Id));

        await AssertAdminApiListsThemAsync();
        var node = Assert.Single(_host.Context.Membership.ListNodes(), n => n.Name == "nan");
        Assert.Equal((0, 0, 0), (node.Cpu.SpeedGBps, node.Gpus[0].SpeedGBps, node.Gpus[0].UtilizationPercent));
    }

    // The service is bound by hand (PoolAgentService.BindService), so the stream an admitted node opens is checked too.
    [Fact]
    public async Task AdmittedNode_ConnectsWithItsCertificate_AndIsWelcomed_UnlessItsHelloDescribesItBeyondTheBounds()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new JoinRequest { TokenId = _open.Id, TokenSecret = _open.Secret, CsrDer = Csr(key), Name = "streamer" };
        var joined = await _client.JoinAsync(request);
        using var issued = X509CertificateLoader.LoadCertificate(joined.CertificateDer.ToByteArray());
        using var certificate = issued.CopyWithPrivateKey(key);
        using var channel = CoordinatorChannel.Create(_host.Context.JoinAddress, _host.Context.Authority.Certificate, certificate, _time);

        using var call = new PoolAgent.PoolAgentClient(channel).Connect(deadline: DateTime.UtcNow.AddSeconds(30));
        await call.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "streamer" } });

        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(joined.NodeId, call.ResponseStream.Current.Welcome.NodeId);
        await call.RequestStream.CompleteAsync();

        // What the join refuses, the hello refuses: it would rename the node.
        using var renamed = new PoolAgent.PoolAgentClient(channel).Connect(deadline: DateTime.UtcNow.AddSeconds(30));
        await renamed.RequestStream.WriteAsync(new AgentMessage { Hello = new Hello { Name = "evil\r\nnode" } });
        var refused = await Assert.ThrowsAsync<RpcException>(() => renamed.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Equal("streamer", _host.Context.Membership.Get(joined.NodeId)!.Name);
    }

    [Theory]
    [InlineData(254, "", 0)]
    [InlineData(4, "\u001b[2J", 0)]
    [InlineData(4, "\u202e", 0)]
    [InlineData(4, "", 70_000)]
    public async Task Join_DescribingTheMachineBeyondTheBounds_IsInvalidArgument_AndTakesNoUseOfTheToken(int nameLength, string inName, int cpuModelLength)
    {
        var token = Token(TimeSpan.FromHours(1));
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new JoinRequest
        {
            TokenId = token.Id, TokenSecret = token.Secret, CsrDer = Csr(key), Name = new string('n', nameLength) + inName,
            Hardware = new Protocol.Hardware { CpuModel = new string('c', cpuModelLength) },
        };

        var (status, _) = await SendAsync(request, null);

        Assert.Equal(StatusCode.InvalidArgument, status.StatusCode);
        Assert.StartsWith("Join refused: the ", status.Detail);
        Assert.Equal(0, _host.Context.Store.GetToken(token.Id)!.Uses);
        await GenuineJoinAsync(token, "fits");
    }

    private async Task<(Status Status, JoinResponse? Response)> SendAsync(JoinRequest? request, byte[]? raw)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        try
        {
            if (raw is not null)
            {
                var bytes = await _channel.CreateCallInvoker().AsyncUnaryCall(RawJoin, null, new CallOptions(deadline: deadline), raw);
                return (Status.DefaultSuccess, JoinResponse.Parser.ParseFrom(bytes));
            }
            return (Status.DefaultSuccess, await _client.JoinAsync(request!, deadline: deadline));
        }
        catch (RpcException e)
        {
            return (e.Status, null);
        }
    }

    /// <summary>The coordinator's bound on a gRPC message; a larger one never reaches the handler.</summary>
    private const int MaxMessageBytes = 4 << 20;

    /// <summary>Join with the request as bytes, so the bytes need not be a valid message.</summary>
    private static readonly Method<byte[], byte[]> RawJoin = new(MethodType.Unary, "tessera.pool.v1.PoolAgent", "Join",
        Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));

    private string? Problem(Status status, JoinResponse? response, JoinRequest? request, byte[]? raw, StatusCode expected)
    {
        if (raw is not null)
        {
            // Bytes that parse may be any request at all; the handler must still answer as it would that request.
            request = TryParse(raw);
            expected = request is null ? StatusCode.InvalidArgument : Expect(request);
        }
        if (status.StatusCode != expected)
            return $"answered {status.StatusCode} '{Preview(status.Detail)}', expected {expected}";
        if (status.StatusCode == StatusCode.OK)
            return Admit(response!, request!, request!.TokenId);
        if (string.IsNullOrWhiteSpace(status.Detail) || status.Detail.Contains("   at ", StringComparison.Ordinal) || status.Detail.Contains("Exception", StringComparison.Ordinal)
            || status.Detail.Length > 2048)
            return $"answered {status.StatusCode} without a clear message: '{Preview(status.Detail)}'";
        return null;
    }

    /// <summary>The answer a request deserves, from the rules of joining (not from the handler's code).</summary>
    private StatusCode Expect(JoinRequest request)
    {
        if (request.CalculateSize() > MaxMessageBytes)
            return StatusCode.ResourceExhausted;
        var token = new[] { _open, _expired, _revoked, _usedUp }.FirstOrDefault(t => t.Id == request.TokenId);
        if (token is null || token.Secret != request.TokenSecret || token != _open)
            return StatusCode.PermissionDenied;
        return IsSoundCsr(request.CsrDer.Span) && IsFitDescription(request) ? StatusCode.OK : StatusCode.InvalidArgument;
    }

    /// <summary>A name that fits a host name and shows as itself, and a hardware description of a real machine's size.</summary>
    private static bool IsFitDescription(JoinRequest request) =>
        request.Name.Trim() is { Length: <= 253 } name && name.All(c => !char.IsControl(c) && char.GetUnicodeCategory(c) != System.Globalization.UnicodeCategory.Format)
        && (request.Hardware?.CalculateSize() ?? 0) <= 64 * 1024;

    /// <summary>A signing request the pool may sign: one whole DER PKCS#10, self-signed, for an EC key.</summary>
    private static bool IsSoundCsr(ReadOnlySpan<byte> der)
    {
        try
        {
            var csr = CertificateRequest.LoadSigningRequest(der, HashAlgorithmName.SHA256, out var read);
            return read == der.Length && csr.PublicKey.Oid.Value == "1.2.840.10045.2.1";
        }
        catch (Exception e) when (e is CryptographicException or NotSupportedException)
        {
            return false;
        }
    }

    private static JoinRequest? TryParse(byte[] raw)
    {
        try
        {
            return JoinRequest.Parser.ParseFrom(raw);
        }
        catch (InvalidProtocolBufferException)
        {
            return null;
        }
    }

    /// <summary>Records an admission after checking it: a certificate from the pool CA, for the node id, on the request's key.</summary>
    private string? Admit(JoinResponse response, JoinRequest request, string tokenId)
    {
        using var certificate = X509CertificateLoader.LoadCertificate(response.CertificateDer.ToByteArray());
        var (nodeId, error) = CertificateChecks.CheckNode(certificate, _host.Context.Authority.Certificate, _time.GetUtcNow());
        if (nodeId != response.NodeId)
            return $"admitted {response.NodeId} with a certificate the pool refuses: {error}";
        var csr = CertificateRequest.LoadSigningRequest(request.CsrDer.Span, HashAlgorithmName.SHA256, out _);
        var key = certificate.PublicKey.EncodedKeyValue.RawData;
        if (!key.AsSpan().SequenceEqual(csr.PublicKey.EncodedKeyValue.RawData))
            return $"admitted {response.NodeId} with a certificate for another key";
        _admitted.Add(new Admitted(response, key, tokenId));
        return null;
    }

    private void AssertPoolHoldsExactlyTheAdmittedNodes()
    {
        var store = _host.Context.Store;
        var nodes = store.ListNodes();
        Assert.Equal(_admitted.Select(a => a.Response.NodeId).Order(StringComparer.Ordinal), nodes.Select(n => n.Id).Order(StringComparer.Ordinal));
        foreach (var admitted in _admitted)
        {
            var node = nodes.Single(n => n.Id == admitted.Response.NodeId);
            Assert.Equal(admitted.Response.Name, node.Name);
            using var certificate = X509CertificateLoader.LoadCertificate(admitted.Response.CertificateDer.ToByteArray());
            Assert.Equal(CertificateChecks.Fingerprint(certificate), node.CertificateFingerprint);
            Assert.NotNull(_host.Context.Membership.Get(node.Id));
        }
        Assert.Equal(_admitted.Count(a => a.TokenId == _open.Id), store.GetToken(_open.Id)!.Uses);
        var joinedEvents = 0;
        for (var page = store.ListEvents(limit: 5000); page.Count > 0; page = store.ListEvents(page[^1].Id, 5000))
            joinedEvents += page.Count(e => e.Kind == "node-joined");
        Assert.Equal(_admitted.Count, joinedEvents);
    }

    /// <summary>What joiners sent must not break the admin's view of the pool.</summary>
    private async Task AssertAdminApiListsThemAsync()
    {
        using var http = new HttpClient(CoordinatorChannel.Handler(_host.Context.Authority.Certificate, null, _time)) { BaseAddress = new Uri("https://" + _host.Context.JoinAddress) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(_dir.FullName, "admin.key")).Trim());
        var bodies = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in new[] { "/api/nodes", "/api/devices", "/api/events?limit=5000" })
        {
            try
            {
                using var response = await http.GetAsync(path);
                Assert.True(response.IsSuccessStatusCode, $"GET {path} answered {(int)response.StatusCode}");
                bodies[path] = await response.Content.ReadAsStringAsync();
            }
            catch (HttpRequestException e)
            {
                Assert.Fail($"GET {path} broke off: {e.Message} {e.InnerException?.Message}");
            }
        }
        Assert.All(_admitted, a => Assert.Contains(a.Response.NodeId, bodies["/api/nodes"]));
    }

    private (Case Kind, string What, JoinRequest? Request, byte[]? Raw, StatusCode Expected) Make(Random rng)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new JoinRequest { TokenId = _open.Id, TokenSecret = _open.Secret, CsrDer = Csr(key), Name = "n", Hardware = new Protocol.Hardware { CpuModel = "cpu", LogicalCores = 8 } };
        var kind = (Case)rng.Next(Enum.GetValues<Case>().Length);
        string what;
        switch (kind)
        {
            case Case.UnknownToken:
                (request.TokenId, request.TokenSecret) = (RandomText(rng), RandomText(rng));
                what = $"unknown token {Preview(request.TokenId)}";
                break;
            case Case.WrongSecret:
                request.TokenSecret = WrongSecret(rng, _open.Secret);
                what = $"wrong secret {Preview(request.TokenSecret)}";
                break;
            case Case.ClosedToken:
                var closed = new[] { _expired, _revoked, _usedUp }[rng.Next(3)];
                (request.TokenId, request.TokenSecret) = (closed.Id, closed.Secret);
                what = closed == _expired ? "expired token" : closed == _revoked ? "revoked token" : "used-up token";
                break;
            case Case.BadCsr:
                (request.CsrDer, what) = BadCsr(rng, request.CsrDer.ToByteArray());
                break;
            case Case.OtherKey:
                (request.CsrDer, what) = OtherKeyCsr(rng);
                break;
            case Case.OddDescription:
                what = OddDescription(rng, request);
                break;
            case Case.Empty:
                request = new JoinRequest();
                what = "empty request";
                break;
            default:
                var bytes = request.ToByteArray();
                var log = new List<string>();
                for (var n = rng.Next(1, 4); n > 0; n--)
                    bytes = JsonMutator.MutateBytes(rng, bytes, log);
                return (kind, $"raw bytes [{string.Join("; ", log)}]", null, bytes, StatusCode.OK);
        }
        return (kind, what, request, null, Expect(request));
    }

    private static ByteString Csr(AsymmetricAlgorithm key) => ByteString.CopyFrom(key switch
    {
        ECDsa ec => new CertificateRequest("CN=fuzz", ec, HashAlgorithmName.SHA256).CreateSigningRequest(),
        RSA rsa => new CertificateRequest("CN=fuzz", rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1).CreateSigningRequest(),
        _ => throw new ArgumentException("no CSR for " + key.GetType().Name),
    });

    private static readonly Lazy<ByteString> RsaCsr = new(() =>
    {
        using var rsa = RSA.Create(2048);
        return Csr(rsa);
    });

    private static (ByteString, string) BadCsr(Random rng, byte[] valid)
    {
        switch (rng.Next(7))
        {
            case 0:
                return (ByteString.Empty, "empty CSR");
            case 1:
                var random = new byte[rng.Next(1, 2048)];
                rng.NextBytes(random);
                return (ByteString.CopyFrom(random), $"{random.Length} random bytes as CSR");
            case 2:
                var cut = rng.Next(1, valid.Length);
                return (ByteString.CopyFrom(valid, 0, cut), $"CSR cut at {cut} of {valid.Length}");
            case 3:
                var at = rng.Next(valid.Length);
                valid[at] ^= (byte)(1 << rng.Next(8));
                return (ByteString.CopyFrom(valid), $"CSR with a bit flipped at {at}");
            case 4:
                var tail = new byte[rng.Next(1, 64)];
                rng.NextBytes(tail);
                return (ByteString.CopyFrom([.. valid, .. tail]), $"CSR followed by {tail.Length} bytes");
            case 5:
                return (RsaCsr.Value, "CSR for an RSA key");
            default:
                // Within gRPC's 4 MiB message bound, so the handler reads it all.
                var huge = new byte[3 << 20];
                rng.NextBytes(huge);
                huge[0] = 0x30;
                return (ByteString.CopyFrom(huge), "3 MiB of garbage as CSR");
        }
    }

    private static (ByteString, string) OtherKeyCsr(Random rng)
    {
        var (curve, name) = rng.Next(3) switch
        {
            0 => (ECCurve.NamedCurves.nistP384, "P-384"),
            1 => (ECCurve.NamedCurves.nistP521, "P-521"),
            _ => (ECCurve.NamedCurves.brainpoolP256r1, "brainpoolP256r1"),
        };
        using var key = ECDsa.Create(curve);
        return (Csr(key), $"CSR for a {name} key");
    }

    private static string OddDescription(Random rng, JoinRequest request)
    {
        request.Name = rng.Next(9) switch
        {
            0 => "",
            8 => new string('n', 5 << 20), // past gRPC's 4 MiB bound: refused before the handler
            1 => "   ",
            2 => new string('n', rng.Next(300, 200_000)),
            3 => "\u001b[31mred\u001b[0m\r\nnode",
            4 => "first",
            5 => "node\0nul",
            6 => "😀 ünïcode",
            _ => RandomText(rng),
        };
        var hw = request.Hardware;
        switch (rng.Next(5))
        {
            case 0:
                hw.CpuModel = new string('c', rng.Next(1, 1 << 20));
                break;
            case 1:
                hw.LogicalCores = rng.Next(2) == 0 ? int.MinValue : int.MaxValue;
                (hw.RamTotalBytes, hw.RamFreeBytes, hw.DiskFreeBytes) = (long.MinValue, -1, long.MaxValue);
                break;
            case 2:
                hw.CpuSpeedGbps = new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity, -1, double.MaxValue }[rng.Next(5)];
                break;
            case 3:
                for (var i = rng.Next(1, 2000); i > 0; i--)
                    hw.Simd.Add(RandomText(rng, longest: 100));
                break;
            default:
                for (var i = rng.Next(1, 500); i > 0; i--)
                {
                    hw.Gpus.Add(new Gpu
                    {
                        Index = rng.Next(-5, 5), Name = RandomText(rng, longest: 1000), MemoryTotalBytes = rng.NextInt64(long.MinValue, long.MaxValue),
                        UtilizationPercent = rng.Next(3) == 0 ? double.NaN : rng.NextDouble() * 1000, SpeedGbps = rng.Next(3) == 0 ? double.PositiveInfinity : -1,
                    });
                }
                break;
        }
        return $"name {Preview(request.Name)}, hardware of {hw.CalculateSize()} bytes";
    }

    /// <summary>Text of every kind a field may get; <paramref name="longest"/> bounds the long ones, so that lists of them fit in a message.</summary>
    private static string RandomText(Random rng, int longest = 1 << 20) => rng.Next(9) switch
    {
        0 => "",
        1 => " ",
        2 => new string('x', rng.Next(Math.Min(1000, longest / 2), longest)),
        3 => "' OR 1=1 --",
        4 => "tok_" + Convert.ToHexStringLower(RandomBytes(rng, 6)),
        5 => "tsr1_" + Convert.ToBase64String(RandomBytes(rng, 60)),
        6 => "\0\u001b\u202e%s%n{0}",
        7 => string.Concat(Enumerable.Range(0, rng.Next(1, 40)).Select(_ => (char)rng.Next(0x20, 0x2FFF))),
        _ => Convert.ToBase64String(RandomBytes(rng, rng.Next(1, 64))),
    };

    private static string WrongSecret(Random rng, string secret)
    {
        var wrong = rng.Next(6) switch
        {
            0 => "",
            1 => secret[..^1],
            2 => secret + "x",
            3 => secret.ToUpperInvariant(),
            4 => " " + secret,
            _ => Secrets.Hash(secret), // what the pool stores must not open it
        };
        return wrong == secret ? secret + "!" : wrong;
    }

    private static byte[] RandomBytes(Random rng, int count)
    {
        var bytes = new byte[count];
        rng.NextBytes(bytes);
        return bytes;
    }

    private static string Preview(string text) =>
        (text.Length <= 60 ? text : text[..60] + $"...({text.Length} chars)").Replace("\n", "\\n").Replace("\0", "\\0").Replace("\u001b", "\\e");
}
