using Tessera.Planner;

namespace Tessera.Planner.Simulation;

/// <summary>Which model a simulation places (<c>--model</c>).</summary>
public enum ModelSize
{
    /// <summary>Llama 2 7B: 32 layers, hidden 4096, 32 KV heads (no GQA), FFN 11008, vocabulary 32000.</summary>
    B7,

    /// <summary>Llama 3.1 70B: 80 layers, hidden 8192, 64 heads, 8 KV heads, FFN 28672, vocabulary 128256.</summary>
    B70,

    /// <summary>Llama 3.1 405B: 126 layers, hidden 16384, 128 heads, 8 KV heads, FFN 53248, vocabulary 128256.</summary>
    B405,

    /// <summary>Mixtral 8x22B: 56 layers, hidden 6144, 48 heads, 8 KV heads, 8 experts of FFN 16384, 2 used per token, vocabulary 32768.</summary>
    Moe8x22B,
}

/// <summary>
/// Model profiles built from the public configurations (Hugging Face config.json of meta-llama/Llama-2-7b-hf,
/// meta-llama/Llama-3.1-70B, meta-llama/Llama-3.1-405B, mistralai/Mixtral-8x22B-v0.1): the tensors a GGUF file of
/// that model holds, sized for the quantization, given to <see cref="ModelProfile.FromTensors"/> as the product
/// does with a real file. Norms and the router stay f32, as in llama.cpp's files.
/// </summary>
public static class ModelCatalog
{
    private sealed record Config(string Name, int Layers, int Hidden, int Heads, int KvHeads, int HeadDim, int Ffn, int Vocab, int Experts = 0, int ExpertsUsed = 0);

    private static Config ConfigOf(ModelSize size) => size switch
    {
        ModelSize.B7 => new("llama-7b", 32, 4096, 32, 32, 128, 11008, 32000),
        ModelSize.B70 => new("llama-70b", 80, 8192, 64, 8, 128, 28672, 128256),
        ModelSize.B405 => new("llama-405b", 126, 16384, 128, 8, 128, 53248, 128256),
        _ => new("mixtral-8x22b", 56, 6144, 48, 8, 128, 16384, 32768, Experts: 8, ExpertsUsed: 2),
    };

    /// <summary>Bits one weight of a matrix takes.</summary>
    public static double BitsPerWeight(Quantization quant) => quant switch
    {
        Quantization.Q4 => 4.85,
        Quantization.Q8 => 8.5,
        _ => 16,
    };

    /// <summary>The short name used on the command line and in tables: 7b, 70b, 405b, moe.</summary>
    public static string ShortName(ModelSize size) => size switch
    {
        ModelSize.B7 => "7b",
        ModelSize.B70 => "70b",
        ModelSize.B405 => "405b",
        _ => "moe",
    };

    public static ModelSize ParseSize(string text) => text.Trim().ToLowerInvariant() switch
    {
        "7b" => ModelSize.B7,
        "70b" => ModelSize.B70,
        "405b" => ModelSize.B405,
        "moe" or "8x22b" or "mixtral" => ModelSize.Moe8x22B,
        _ => throw new ArgumentException($"Unknown model '{text}': use 7b, 70b, 405b or moe."),
    };

    public static Quantization ParseQuant(string text) => text.Trim().ToLowerInvariant() switch
    {
        "q4" or "q4_k_m" => Quantization.Q4,
        "q8" or "q8_0" => Quantization.Q8,
        "f16" => Quantization.F16,
        _ => throw new ArgumentException($"Unknown quantization '{text}': use q4, q8 or f16."),
    };

    /// <summary>The profile of <paramref name="size"/> stored as <paramref name="quant"/>.</summary>
    public static ModelProfile Profile(ModelSize size, Quantization quant)
    {
        var c = ConfigOf(size);
        var bits = BitsPerWeight(quant);
        long Matrix(long elements) => (long)Math.Ceiling(elements * bits / 8);
        const int F32 = 4;
        var q = (long)c.Heads * c.HeadDim;
        var kv = (long)c.KvHeads * c.HeadDim;
        var tensors = new List<TensorSize>(c.Layers * 10 + 3);
        void Add(string name, long elements, long bytes) => tensors.Add(new TensorSize(name, elements, bytes));
        Add("token_embd.weight", (long)c.Vocab * c.Hidden, Matrix((long)c.Vocab * c.Hidden));
        Add("output.weight", (long)c.Vocab * c.Hidden, Matrix((long)c.Vocab * c.Hidden));
        Add("output_norm.weight", c.Hidden, (long)c.Hidden * F32);
        for (var i = 0; i < c.Layers; i++)
        {
            var p = "blk." + i.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".";
            Add(p + "attn_norm.weight", c.Hidden, (long)c.Hidden * F32);
            Add(p + "ffn_norm.weight", c.Hidden, (long)c.Hidden * F32);
            Add(p + "attn_q.weight", c.Hidden * q, Matrix(c.Hidden * q));
            Add(p + "attn_k.weight", c.Hidden * kv, Matrix(c.Hidden * kv));
            Add(p + "attn_v.weight", c.Hidden * kv, Matrix(c.Hidden * kv));
            Add(p + "attn_output.weight", q * c.Hidden, Matrix(q * c.Hidden));
            var ffn = (long)c.Hidden * c.Ffn;
            if (c.Experts > 0)
            {
                Add(p + "ffn_gate_inp.weight", (long)c.Hidden * c.Experts, (long)c.Hidden * c.Experts * F32);
                foreach (var m in (string[])["ffn_gate_exps", "ffn_up_exps", "ffn_down_exps"])
                    Add(p + m + ".weight", c.Experts * ffn, Matrix(c.Experts * ffn));
            }
            else
            {
                foreach (var m in (string[])["ffn_gate", "ffn_up", "ffn_down"])
                    Add(p + m + ".weight", ffn, Matrix(ffn));
            }
        }
        var shape = new ModelShape($"{c.Name}-{quant.ToString().ToLowerInvariant()}", c.Layers, c.Hidden, (int)kv, c.Vocab,
            ExpertCount: c.Experts, ExpertsUsed: c.ExpertsUsed);
        return ModelProfile.FromTensors(shape, tensors);
    }
}
