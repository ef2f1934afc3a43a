using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Tessera.Engine.Model;
using Tessera.Engine.Sampling;
using Tessera.Generation;
using Tessera.Identity;
using Tessera.Serving;
using Tessera.Testing;

namespace Tessera.Serving.Tests;

public sealed class StageTlsTests
{
    /// <summary>A node certificate of <paramref name="ca"/>'s pool, with its key, usable by SslStream.</summary>
    internal static X509Certificate2 NodeCertificate(PoolCertificateAuthority ca, string nodeId) => ca.IssueNodeCertificate(nodeId, TimeProvider.System);

    private static Task<StageServer> StartAsync(string range, StageTls tls) => StageServer.StartAsync(new StageServerOptions
    {
        ModelPath = TestPaths.Model("tiny-a-q8_0.gguf"),
        Layers = LayerRange.Parse(range),
        Threads = 1,
        ContextLength = 128,
        Tls = tls,
    });

    [Fact]
    public async Task StagesWithNodeCertificatesOfOnePool_TalkOverMutualTls()
    {
        using var ca = PoolCertificateAuthority.Create("pool_test", TimeProvider.System);
        await using var first = await StartAsync("0-2", new StageTls(NodeCertificate(ca, "node_a"), ca.Certificate));
        await using var last = await StartAsync("2-4", new StageTls(NodeCertificate(ca, "node_b"), ca.Certificate));
        await using var driver = await PipelineDriver.ConnectAsync([first.Address, last.Address], new StageTls(NodeCertificate(ca, "node_c"), ca.Certificate));

        var tokens = new List<PipelineToken>();
        await foreach (var t in driver.GenerateAsync(new PipelineRequest([1, 450, 4996], SamplingParameters.Greedy, 4)))
            tokens.Add(t);

        Assert.Equal(4, tokens.Count);
    }

    [Fact]
    public async Task ADriverWithACertificateOfAnotherPool_IsRefused()
    {
        using var ca = PoolCertificateAuthority.Create("pool_test", TimeProvider.System);
        using var other = PoolCertificateAuthority.Create("pool_other", TimeProvider.System);
        await using var stage = await StartAsync("0-4", new StageTls(NodeCertificate(ca, "node_a"), ca.Certificate));

        var e = await Assert.ThrowsAsync<PipelineException>(() => PipelineDriver.ConnectAsync([stage.Address], new StageTls(NodeCertificate(other, "node_x"), other.Certificate)));
        Assert.Contains("cannot be reached", e.Message);
    }

    [Fact]
    public async Task PlaintextOffLoopback_IsRefused()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => StageServer.StartAsync(new StageServerOptions
        {
            ModelPath = TestPaths.Model("tiny-a-q8_0.gguf"),
            Layers = LayerRange.Parse("0-4"),
            Listen = new System.Net.IPEndPoint(System.Net.IPAddress.Any, 0),
            AllowPlaintext = true,
        }));
        Assert.Contains("loopback", e.Message);
    }
}
