using BenchmarkDotNet.Attributes;
using Tessera.Engine.Tensors;

namespace Tessera.Bench;

/// <summary>A 2048 x 5632 (ffn_down of a 1.1B Llama) product per weight type: decode (1 token) and prefill (128).</summary>
[MemoryDiagnoser]
public class MatMulBenchmarks
{
    private MatMulFixture _fixture = null!;

    [Params(GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.F16, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q5_0, GgmlType.Q5_K, GgmlType.BF16, GgmlType.F32)]
    public GgmlType Type { get; set; }

    [Params(1, 128)]
    public int Tokens { get; set; }

    [GlobalSetup]
    public void Setup() => _fixture = new MatMulFixture(Type, 2048, 5632, Tokens);

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();

    [Benchmark]
    public void MatMul() => _fixture.Run();
}
