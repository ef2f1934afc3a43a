using System.Runtime.InteropServices;
using Tessera.Engine.Backends;
using Tessera.Engine.Kernels;
using Tessera.Engine.Model;
using Tessera.Engine.Tensors;

namespace Tessera.Bench;

/// <summary>
/// Several copies of one random weight matrix (together much larger than the L3 cache, like a model's layers),
/// used in turn, so a matrix-vector product streams its weights from memory as decode does.
/// </summary>
public sealed unsafe class MatMulFixture : IDisposable
{
    private readonly byte* _data;
    private readonly WeightArena? _arena;
    private readonly float[] _x;
    private readonly float[] _y;
    private int _next;

    public MatMulFixture(GgmlType type, int rows, int cols, int tokens, int threads = 0, long minTotalBytes = 384L << 20, KernelPath path = KernelPath.Auto)
    {
        var rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        var one = new byte[(long)rowBytes * rows];
        var values = new float[cols];
        var rng = new Random(1);
        for (var r = 0; r < rows; r++)
        {
            for (var i = 0; i < cols; i++)
                values[i] = (float)(rng.NextDouble() - 0.5) * 0.1f;
            ReferenceQuant.Quantize(type, values, one.AsSpan(r * rowBytes, rowBytes));
        }
        Copies = (int)Math.Max(1, (minTotalBytes + one.Length - 1) / one.Length);
        MatrixBytes = one.Length;
        // The copies live where a stage's weights live: a huge-page arena (TESSERA_WEIGHTS=map: plain 4 KiB pages).
        Matrices = new WeightMatrix[Copies];
        fixed (byte* source = one)
        {
            var matrix = new WeightMatrix((nint)source, type, rows, cols, $"bench.{type}");
            if (WeightStorages.Resolve(WeightStorage.Auto) == WeightStorage.Copy)
            {
                _arena = new WeightArena(WeightArena.Footprint(matrix) * Copies);
                for (var c = 0; c < Copies; c++)
                    Matrices[c] = _arena.Copy(matrix);
            }
            else
            {
                _data = (byte*)NativeMemory.AlignedAlloc((nuint)(MatrixBytes * Copies), 4096);
                for (var c = 0; c < Copies; c++)
                {
                    one.CopyTo(new Span<byte>(_data + c * MatrixBytes, one.Length));
                    Matrices[c] = new WeightMatrix((nint)(_data + c * MatrixBytes), type, rows, cols, $"bench.{type}.{c}");
                }
            }
        }
        Tokens = tokens;
        _x = new float[tokens * cols];
        for (var i = 0; i < _x.Length; i++)
            _x[i] = (float)(rng.NextDouble() * 2 - 1);
        _y = new float[tokens * rows];
        Backend = new CpuBackend(threads, path);
    }

    public CpuBackend Backend { get; }
    public WeightMatrix[] Matrices { get; }
    public int Copies { get; }
    public long MatrixBytes { get; }
    public int Tokens { get; }

    /// <summary>One product with the next copy of the matrix.</summary>
    public void Run()
    {
        var w = Matrices[_next];
        _next = (_next + 1) % Copies;
        Backend.MatMul(w, _x, _y, Tokens);
    }

    public void Dispose()
    {
        Backend.Dispose();
        _arena?.Dispose();
        if (_data != null)
            NativeMemory.AlignedFree(_data);
    }
}
