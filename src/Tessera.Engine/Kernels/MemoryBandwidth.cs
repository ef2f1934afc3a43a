using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Tessera.Engine.Kernels;

/// <summary>Measures how fast this machine streams memory: the ceiling of memory-bound (decode) matrix products.</summary>
public static unsafe class MemoryBandwidth
{
    private const int ChunkBytes = 1 << 20;

    /// <summary>
    /// Reads a buffer of <paramref name="bufferBytes"/> (much larger than the caches) with all threads of
    /// <paramref name="pool"/>, <paramref name="repetitions"/> times, and returns the median read rate in GB/s (1e9 bytes).
    /// </summary>
    public static double MeasureReadGBps(WorkerPool pool, long bufferBytes = 512L << 20, int repetitions = 5)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferBytes, (long)ChunkBytes);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(repetitions);
        var chunks = (int)(bufferBytes / ChunkBytes);
        var buffer = (byte*)NativeMemory.AlignedAlloc((nuint)chunks * ChunkBytes, 4096);
        var sinks = (ulong*)NativeMemory.AlignedAlloc((nuint)chunks * 64, 64);
        try
        {
            var job = new ReadJob { Buffer = buffer, Sinks = sinks };
            pool.For(chunks, new FillJob { Buffer = buffer }); // touch every page (and place it near its reader)
            pool.For(chunks, job); // warm-up
            var rates = new double[repetitions];
            for (var r = 0; r < repetitions; r++)
            {
                var start = Stopwatch.GetTimestamp();
                pool.For(chunks, job);
                var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                rates[r] = (double)chunks * ChunkBytes / seconds / 1e9;
            }
            Array.Sort(rates);
            return rates[rates.Length / 2];
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
            NativeMemory.AlignedFree(sinks);
        }
    }

    private struct FillJob : IParallelJob
    {
        public byte* Buffer;

        public readonly void Execute(int index) =>
            new Span<byte>(Buffer + (nint)index * ChunkBytes, ChunkBytes).Fill((byte)(index * 31 + 7));
    }

    private struct ReadJob : IParallelJob
    {
        public byte* Buffer;
        public ulong* Sinks;

        public readonly void Execute(int index)
        {
            var p = Buffer + (nint)index * ChunkBytes;
            Vector512<ulong> a0 = default, a1 = default, a2 = default, a3 = default;
            for (var i = 0; i < ChunkBytes; i += 256)
            {
                a0 ^= Vector512.Load((ulong*)(p + i));
                a1 ^= Vector512.Load((ulong*)(p + i + 64));
                a2 ^= Vector512.Load((ulong*)(p + i + 128));
                a3 ^= Vector512.Load((ulong*)(p + i + 192));
            }
            Sinks[index * 8] = Vector512.Sum((a0 ^ a1) ^ (a2 ^ a3)); // keeps the loads alive
        }
    }
}
