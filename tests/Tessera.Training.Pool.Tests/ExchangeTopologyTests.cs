using System.Net;
using System.Net.Sockets;
using Tessera.Training.Pool.Exchange;

namespace Tessera.Training.Pool.Tests;

/// <summary>Both exchange topologies over real mutual-TLS sockets on loopback, in this process: every worker ends with the element-wise sum.</summary>
public sealed class ExchangeTopologyTests
{
    private const int Workers = 3;
    private const int Count = 100_000;

    // Small integers: their sums are exact in f32 and f16, whatever order the topology adds them in.
    private static float[][] Inputs() => Enumerable.Range(0, Workers).Select(w =>
    {
        var random = new Random(w + 1);
        return Enumerable.Range(0, Count).Select(_ => (float)random.Next(-50, 51)).ToArray();
    }).ToArray();

    private static float[] Sum(float[][] inputs) => Enumerable.Range(0, Count).Select(i => inputs.Sum(v => v[i])).ToArray();

    [Theory]
    [InlineData("star", DeltaCompression.F32)]
    [InlineData("star", DeltaCompression.F16)]
    [InlineData("ring", DeltaCompression.F32)]
    [InlineData("ring", DeltaCompression.F16)]
    public async Task Every_worker_gets_the_exact_sum(string topology, DeltaCompression format)
    {
        var inputs = Inputs();
        var results = topology == "star" ? await RunStar(inputs, format) : await RunRing(inputs, format);
        foreach (var result in results)
            Assert.Equal(Sum(inputs), result);
    }

    [Fact]
    public async Task Int8_topologies_agree_within_quantization()
    {
        var inputs = Inputs();
        var expected = Sum(inputs);
        foreach (var results in new[] { await RunStar(inputs, DeltaCompression.Int8), await RunRing(inputs, DeltaCompression.Int8) })
        {
            Assert.All(results, r => Assert.Equal(results[0], r));
            // A block's scale is its largest |value| / 127: at most 150/127 here, so half a step a rounding, three roundings a hop.
            Assert.All(Enumerable.Range(0, Count), i => Assert.InRange(results[0][i] - expected[i], -4f, 4f));
        }
    }

    [Fact]
    public void Chunks_cover_the_vector_on_block_boundaries()
    {
        var chunks = Enumerable.Range(0, 7).Select(i => RingAllReduce.Chunk(100_003, 7, i)).ToArray();
        Assert.Equal(0, chunks[0].Start);
        for (var i = 1; i < chunks.Length; i++)
        {
            Assert.Equal(chunks[i - 1].Start + chunks[i - 1].Length, chunks[i].Start);
            Assert.Equal(0, chunks[i].Start % DeltaCodec.Int8BlockSize);
        }
        Assert.Equal(100_003, chunks[^1].Start + chunks[^1].Length);
    }

    private static async Task<float[][]> RunStar(float[][] inputs, DeltaCompression format)
    {
        var (coordinator, workers) = ExchangeIdentity.CreateInMemory(Workers);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var remote = (IPEndPoint)listener.LocalEndpoint;
            var accepts = Task.WhenAll(Enumerable.Range(0, Workers).Select(_ => ExchangeLink.AcceptAsync(listener, coordinator, TimeSpan.Zero, cancel.Token)));
            var links = await Task.WhenAll(workers.Select(w => ExchangeLink.ConnectAsync(remote, w, peerIsCoordinator: true, TimeSpan.Zero, TimeSpan.FromSeconds(10), cancel.Token)));
            var served = await accepts;
            var center = StarExchange.CoordinatorAsync(served, Count, format, cancel.Token);
            var results = await Task.WhenAll(links.Select((link, i) => StarExchange.WorkerAsync(link, inputs[i], format, cancel.Token)));
            Assert.Equal(Workers, await center);
            foreach (var link in links.Concat(served))
                await link.DisposeAsync();
            return results;
        }
        finally
        {
            listener.Stop();
            Dispose(coordinator, workers);
        }
    }

    private static async Task<float[][]> RunRing(float[][] inputs, DeltaCompression format)
    {
        var (coordinator, workers) = ExchangeIdentity.CreateInMemory(Workers);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var listeners = Enumerable.Range(0, Workers).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        try
        {
            foreach (var l in listeners)
                l.Start();
            var links = await Task.WhenAll(Enumerable.Range(0, Workers).Select(r =>
                RingAllReduce.JoinAsync(listeners[r], (IPEndPoint)listeners[(r + 1) % Workers].LocalEndpoint, workers[r], TimeSpan.Zero, cancel.Token)));
            var results = await Task.WhenAll(Enumerable.Range(0, Workers).Select(r =>
                RingAllReduce.AllReduceAsync(links[r].Left, links[r].Right, r, Workers, inputs[r], format, cancel.Token)));
            foreach (var (left, right) in links)
            {
                await left.DisposeAsync();
                await right.DisposeAsync();
            }
            return results;
        }
        finally
        {
            foreach (var l in listeners)
                l.Stop();
            Dispose(coordinator, workers);
        }
    }

    private static void Dispose(ExchangeIdentity coordinator, ExchangeIdentity[] workers)
    {
        coordinator.Dispose();
        foreach (var w in workers)
            w.Dispose();
    }
}
