using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Engine.Tests.Kernels;

/// <summary>Random weights and activations, and the float reference product.</summary>
internal static class KernelTestData
{
    public static readonly GgmlType[] MatMulTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_1, GgmlType.Q5_1, GgmlType.IQ4_NL,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS,
    ];

    public static TheoryData<GgmlType> AllMatMulTypes()
    {
        var data = new TheoryData<GgmlType>();
        foreach (var t in MatMulTypes)
            data.Add(t);
        return data;
    }

    /// <summary>Columns for a type: odd block counts for 32-blocks, 3 super-blocks for K-quants, a ragged tail for floats.</summary>
    public static int ColsFor(GgmlType type) => GgmlTypeInfo.BlockSize(type) switch
    {
        1 => 100,
        32 => 800,
        _ => 768,
    };

    public static float[] Random(int count, int seed, float scale = 1f)
    {
        var rng = new Random(seed);
        var values = new float[count];
        for (var i = 0; i < values.Length; i++)
        {
            // Roughly Gaussian with occasional outliers, like real weights and activations.
            var v = (float)(rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5);
            if (rng.Next(64) == 0)
                v *= 6;
            values[i] = v * scale;
        }
        return values;
    }

    /// <summary>A quantized matrix in unmanaged memory (freed on dispose), plus its dequantized floats.</summary>
    public sealed unsafe class Matrix : IDisposable
    {
        public Matrix(GgmlType type, int rows, int cols, int seed)
        {
            var rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
            var values = Random(rows * cols, seed, 0.05f);
            var bytes = new byte[rows * rowBytes];
            for (var r = 0; r < rows; r++)
                ReferenceQuant.Quantize(type, values.AsSpan(r * cols, cols), bytes.AsSpan(r * rowBytes, rowBytes));
            Data = (byte*)System.Runtime.InteropServices.NativeMemory.Alloc((nuint)bytes.Length);
            bytes.CopyTo(new Span<byte>(Data, bytes.Length));
            Dequantized = new float[rows * cols];
            ReferenceQuant.Dequantize(type, bytes, Dequantized);
            Weights = new WeightMatrix((nint)Data, type, rows, cols, "test." + type);
        }

        public byte* Data { get; private set; }
        public float[] Dequantized { get; }
        public WeightMatrix Weights { get; }

        public void Dispose()
        {
            System.Runtime.InteropServices.NativeMemory.Free(Data);
            Data = null;
        }
    }

    /// <summary>Random activations of <paramref name="tokens"/> tokens quantized to Q8_K, one per stride, in aligned unmanaged memory (freed on dispose).</summary>
    public sealed unsafe class Q8KTokens : IDisposable
    {
        public Q8KTokens(int tokens, int cols, int seed)
        {
            Stride = ActivationQuant.Q8_KStride(cols);
            Data = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)(Stride * tokens), 64);
            var x = Random(tokens * cols, seed);
            fixed (float* xp = x)
                for (var t = 0; t < tokens; t++)
                    ActivationQuant.QuantizeQ8_K(xp + t * cols, cols, Data + t * Stride);
        }

        public byte* Data { get; private set; }
        public nint Stride { get; }

        public void Dispose()
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(Data);
            Data = null;
        }
    }

    /// <summary>Activations as the kernels see them: quantized then dequantized for integer kernels, else as given.</summary>
    public static unsafe float[] EffectiveActivations(GgmlType type, float[] x, int cols)
    {
        var format = MatMulKernel.For(type, KernelPath.Scalar).Format;
        if (format == ActivationFormat.F32)
            return x;
        if (format == ActivationFormat.F16)
            return x.Select(v => (float)(Half)v).ToArray(); // F16 weights meet activations as f16
        var result = new float[x.Length];
        var stride = format == ActivationFormat.Q8_0 ? ActivationQuant.Q8_0Stride(cols) : ActivationQuant.Q8_KStride(cols);
        var buffer = (byte*)System.Runtime.InteropServices.NativeMemory.AlignedAlloc((nuint)stride, 64);
        try
        {
            fixed (float* xp = x)
            {
                for (var t = 0; t < x.Length / cols; t++)
                {
                    var row = xp + t * cols;
                    if (format == ActivationFormat.Q8_0)
                    {
                        ActivationQuant.QuantizeQ8_0(row, cols, buffer);
                        var d = ActivationQuant.Q8_0D(buffer, cols);
                        for (var i = 0; i < cols; i++)
                            result[t * cols + i] = ActivationQuant.Q8_0Qs(buffer)[i] * d[i / 32];
                    }
                    else
                    {
                        ActivationQuant.QuantizeQ8_K(row, cols, buffer);
                        var d = ActivationQuant.Q8_KD(buffer, cols);
                        for (var i = 0; i < cols; i++)
                            result[t * cols + i] = ActivationQuant.Q8_KQs(buffer)[i] * d[i / 256];
                    }
                }
            }
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.AlignedFree(buffer);
        }
        return result;
    }

    /// <summary>y[t, r] in double, and the scale sum |w||x| per output for tolerances.</summary>
    public static (double[] Y, double[] Scale) Reference(float[] w, float[] x, int rows, int cols, int tokens)
    {
        var y = new double[tokens * rows];
        var scale = new double[tokens * rows];
        for (var t = 0; t < tokens; t++)
            for (var r = 0; r < rows; r++)
            {
                double s = 0, a = 0;
                for (var k = 0; k < cols; k++)
                {
                    s += (double)w[r * cols + k] * x[t * cols + k];
                    a += Math.Abs((double)w[r * cols + k] * x[t * cols + k]);
                }
                y[t * rows + r] = s;
                scale[t * rows + r] = a;
            }
        return (y, scale);
    }
}
