namespace Tessera.Planner.Simulation;

/// <summary>How a simulated model's weight matrices are stored (<c>--quant</c>).</summary>
public enum Quantization
{
    /// <summary>Q4_K_M: 4.85 bits per weight on average (llama.cpp's mix of Q4_K and Q6_K; its 70B file is 42.5 GB).</summary>
    Q4,

    /// <summary>Q8_0: blocks of 32 int8 weights and an f16 scale, 8.5 bits per weight.</summary>
    Q8,

    /// <summary>F16: 16 bits per weight.</summary>
    F16,
}
