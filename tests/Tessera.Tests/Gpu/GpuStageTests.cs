using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Gpu;
using Tessera.Engine.Model;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Gpu;

/// <summary>
/// Whole models on the GPU backend, through ILGPU's CPU accelerator (the same kernels CUDA runs): the teacher-forced
/// checks against llama.cpp, and agreement with the CPU engine itself. The stand-in keeps both cores busy for a minute
/// or two, so these run in the process tests' collection: never beside the tests that time agents and stages.
/// </summary>
[Collection(ProcessCollection.Name)]
public sealed class GpuStageTests(ITestOutputHelper output)
{
    // F16 and Q8_0 meet the CPU engine's bounds (ReferenceAgreementTests): top-1 identical at every position,
    // log-probabilities within 0.02 and 0.1. The Q4 files do not, yet: the GPU adds a row's blocks in another order than
    // llama.cpp's CPU code, so activations differ from the CPU engine's by a unit in the last place, and where a
    // block's largest value moves, the 8-bit activation quantization moves its scale and several quants by a step
    // (measured: 18 of 200 rows at the first attention input); this tiny model carries that to 0.02-0.05 in the
    // hidden state. The CPU engine avoids it by following llama.cpp's order exactly. Measured on the stand-in: Q4_0 top-1 30/32, worst error 0.22;
    // Q4_K_M 29/32, 0.14. The bounds below hold those levels so a regression fails.
    [Theory]
    [InlineData("tiny-a-f16.gguf", 1.0, 0.02)]
    [InlineData("tiny-a-q8_0.gguf", 1.0, 0.1)]
    [InlineData("tiny-a-q4_0.gguf", 0.9, 0.3)]
    [InlineData("tiny-a-q4_k_m.gguf", 0.9, 0.3)]
    // Phi-3 (fused QKV and gate-up, query scaled after RoPE) and Gemma 2 (GELU, soft caps, sliding window, post-norms):
    // their Q8_0 activations meet the same order effect (measured on the stand-in: Phi-3 top-1 31/32, worst 0.13;
    // Gemma 2, 26 blocks deep, 26/32 and 0.36). Held at those levels.
    [InlineData("tiny-phi3-q8_0.gguf", 0.95, 0.2)]
    [InlineData("tiny-phi3-q4_k_m.gguf", 0.8, 0.3)] // Q5_1 (fused QKV), Q5_0, Q4_K, Q6_K, Q8_0: measured 27/32, worst 0.29
    [InlineData("tiny-gemma2-q8_0.gguf", 0.75, 0.45)]
    // Mixtures of experts: the router's choice on the host, each expert over the rows that chose it.
    [InlineData("tiny-moe-q8_0.gguf", 0.95, 0.2)]
    [InlineData("tiny-qwen2moe-q8_0.gguf", 0.95, 0.2)]
    public void TeacherForcing_GpuStageThenCpuStage_MatchesLlamaCpp(string file, double minTop1Agreement, double maxLogProbError)
    {
        using var gguf = GgufFile.Open(TestPaths.Model(file));
        var blocks = ModelConfig.FromGguf(gguf).BlockCount;
        using var gpu = new GpuBackend(GpuDevice.OpenCpuStandIn());
        using var cpu = new CpuBackend(1);
        // Every block but the last on the GPU; the last and the vocabulary head (32,000 rows, slow on the stand-in) on the CPU.
        using var body = new TransformerStage(gguf, new LayerRange(0, blocks - 1), gpu);
        using var head = new TransformerStage(gguf, new LayerRange(blocks - 1, blocks), cpu);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var result = TeacherForcing.Run([body, head], file, maxLogProbError, maxCases: 2);
        output.WriteLine(result.Detail);
        output.WriteLine($"{result.Summary(file, maxLogProbError)} ({started.Elapsed.TotalSeconds:F1} s on {gpu.Name})");
        Assert.True(result.Top1Agreement >= minTop1Agreement, $"top-1 agreement {result.Top1Agreement:P1} below {minTop1Agreement:P0}");
        Assert.Equal(result.Positions, result.LogProbWithin);
    }

    /// <summary>
    /// The whole model on the GPU backend (embedding to vocabulary head) decodes the same greedy tokens as the CPU
    /// engine, two sessions batched in each step (their attention in one call, the head on each one's last row), and
    /// the logits stay within 0.05 of the CPU's (logits of about +-10; measured 0.024). F16: no 8-bit activation
    /// quantization, only f16 rounding of the inputs, where a boundary value moves by one f16 step (about 1e-3).
    /// </summary>
    [Fact]
    public void GreedyDecode_OnTheGpuBackend_IsTheCpuEnginesText()
    {
        using var gguf = GgufFile.Open(TestPaths.Model("tiny-a-f16.gguf"));
        var range = LayerRange.All(ModelConfig.FromGguf(gguf).BlockCount);
        using var gpu = new GpuBackend(GpuDevice.OpenCpuStandIn());
        using var cpu = new CpuBackend(1);
        using var onGpu = new TransformerStage(gguf, range, gpu, contextLength: 64);
        using var onCpu = new TransformerStage(gguf, range, cpu, contextLength: 64);
        int[][] prompts = [LlamaCppReference.For("tiny-a-f16.gguf")[0].PromptTokens, LlamaCppReference.For("tiny-a-f16.gguf")[1].PromptTokens];
        var (gpuTokens, gpuWorst) = Decode(onGpu, prompts, steps: 4, reference: onCpu);
        var (cpuTokens, _) = Decode(onCpu, prompts, steps: 4, reference: null);
        output.WriteLine($"GPU: {string.Join(" | ", gpuTokens.Select(t => string.Join(",", t)))}; largest logit difference {gpuWorst:G3}");
        Assert.Equal(cpuTokens, gpuTokens);
        Assert.True(gpuWorst < 0.05, $"logits differ from the CPU's by {gpuWorst}");
    }

    /// <summary>Greedy tokens of every prompt, decoded together; with a reference stage, the largest logit difference from it on the same inputs.</summary>
    private static (List<int>[] Tokens, double Worst) Decode(TransformerStage stage, int[][] prompts, int steps, TransformerStage? reference)
    {
        var vocab = stage.Config.VocabSize;
        var caches = prompts.Select(_ => stage.CreateCache()).ToArray();
        var referenceCaches = reference is null ? null : prompts.Select(_ => reference.CreateCache()).ToArray();
        var tokens = prompts.Select(_ => new List<int>()).ToArray();
        var worst = 0.0;
        var input = prompts.SelectMany(p => p).ToArray();
        var counts = prompts.Select(p => p.Length).ToArray();
        for (var step = 0; step <= steps; step++)
        {
            var batch = caches.Select((c, i) => new BatchSequence(c, counts[i])).ToArray();
            var logits = new float[prompts.Length * vocab];
            stage.Forward(batch, input, default, logits);
            if (reference is not null)
            {
                var expected = new float[logits.Length];
                reference.Forward(referenceCaches!.Select((c, i) => new BatchSequence(c, counts[i])).ToArray(), input, default, expected);
                for (var i = 0; i < logits.Length; i++)
                    worst = Math.Max(worst, Math.Abs(logits[i] - expected[i]));
            }
            input = new int[prompts.Length];
            for (var s = 0; s < prompts.Length; s++)
            {
                input[s] = System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan(s * vocab, vocab));
                tokens[s].Add(input[s]);
                counts[s] = 1;
            }
        }
        foreach (var c in caches.Concat(referenceCaches ?? []))
            c.Dispose();
        return (tokens, worst);
    }

    /// <summary>
    /// A generation's KV cache is device memory: it goes back when the generation ends, or when its consumer stops
    /// reading early, not when the garbage collector gets to it.
    /// </summary>
    [Fact]
    public void AGenerationOnTheGpu_FreesItsKvCache_WhenItEnds_OrIsAbandoned()
    {
        using var gguf = GgufFile.Open(TestPaths.Model("tiny-a-q8_0.gguf"));
        using var gpu = new GpuBackend(GpuDevice.OpenCpuStandIn());
        using var stage = new TransformerStage(gguf, LayerRange.All(ModelConfig.FromGguf(gguf).BlockCount), gpu, contextLength: 64);
        var generator = new Tessera.Engine.Generation.LocalGenerator(stage, Tessera.Engine.Tokenization.Tokenizer.FromGguf(gguf.Metadata));
        int[] prompt = LlamaCppReference.For("tiny-a-q8_0.gguf")[0].PromptTokens;
        var stats = new Tessera.Engine.Generation.GenerationStats();
        _ = generator.Generate(prompt, Tessera.Generation.SamplingParameters.Greedy, 2, stats).ToList(); // activations are allocated once
        var settled = gpu.LiveBufferBytes;

        Assert.Equal(2, generator.Generate(prompt, Tessera.Generation.SamplingParameters.Greedy, 2, stats).Count());
        Assert.Equal(settled, gpu.LiveBufferBytes);

        using (var abandoned = generator.Generate(prompt, Tessera.Generation.SamplingParameters.Greedy, 8, stats).GetEnumerator())
        {
            Assert.True(abandoned.MoveNext());
            Assert.True(gpu.LiveBufferBytes > settled, "a generation under way holds its cache on the device");
        }
        Assert.Equal(settled, gpu.LiveBufferBytes);
    }
}
