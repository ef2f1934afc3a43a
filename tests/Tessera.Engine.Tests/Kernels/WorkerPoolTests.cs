using Tessera.Engine.Kernels;

namespace Tessera.Engine.Tests.Kernels;

public unsafe class WorkerPoolTests
{
    private struct CountJob : IParallelJob
    {
        public int* Counts;

        public readonly void Execute(int index) => Interlocked.Increment(ref Counts[index]);
    }

    private struct ThrowJob : IParallelJob
    {
        public int ThrowAt;

        public readonly void Execute(int index)
        {
            if (index == ThrowAt)
                throw new InvalidDataException("item " + index);
        }
    }

    private struct NestedJob : IParallelJob
    {
        public WorkerPool Pool;

        public readonly void Execute(int index) => Pool.For(2, new CountJob());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void For_RunsEveryIndexExactlyOnce_Repeated10000Times(int threads)
    {
        using var pool = new WorkerPool(threads);
        var counts = new int[97];
        fixed (int* p = counts)
        {
            for (var rep = 0; rep < 10_000; rep++)
            {
                var n = 1 + rep % counts.Length;
                pool.For(n, new CountJob { Counts = p });
            }
        }
        // Index i runs once in every repetition whose count exceeds i.
        for (var i = 0; i < counts.Length; i++)
        {
            var expected = Enumerable.Range(0, 10_000).Count(rep => 1 + rep % counts.Length > i);
            Assert.Equal(expected, counts[i]);
        }
    }

    [Fact]
    public void For_WorkersWakingLate_NeverTouchAFinishedLoop()
    {
        // Pauses around the spin period make workers wake while (or after) the caller finishes alone; each loop's
        // job lives on the caller's stack, so a late worker must skip it, and every index still runs exactly once.
        using var pool = new WorkerPool(3);
        var counts = new int[8];
        fixed (int* p = counts)
        {
            for (var rep = 0; rep < 300; rep++)
            {
                pool.For(1 + rep % counts.Length, new CountJob { Counts = p });
                if (rep % 3 == 0)
                    Thread.Sleep(rep % 4);
            }
        }
        for (var i = 0; i < counts.Length; i++)
            Assert.Equal(Enumerable.Range(0, 300).Count(rep => 1 + rep % counts.Length > i), counts[i]);
    }

    [Fact]
    public void For_AfterWorkersFellAsleep_StillRunsEveryIndex()
    {
        using var pool = new WorkerPool(3);
        var counts = new int[64];
        fixed (int* p = counts)
        {
            pool.For(64, new CountJob { Counts = p });
            Thread.Sleep(50); // workers stop spinning and block
            pool.For(64, new CountJob { Counts = p });
        }
        Assert.All(counts, c => Assert.Equal(2, c));
    }

    /// <summary>Rest between loops (a stage waiting for its next message) sends workers to sleep at once; the next loops still run every index.</summary>
    [Fact]
    public void For_AfterRest_StillRunsEveryIndex_LoopAfterLoop()
    {
        using var pool = new WorkerPool(3);
        var counts = new int[256];
        fixed (int* p = counts)
        {
            for (var round = 0; round < 200; round++)
            {
                pool.For(256, new CountJob { Counts = p });
                pool.Rest();
                if (round % 50 == 0)
                    Thread.Sleep(5);
            }
        }
        Assert.All(counts, c => Assert.Equal(200, c));
    }

    [Fact]
    public void For_ItemThrows_ExceptionReachesCallerAndPoolStaysUsable()
    {
        using var pool = new WorkerPool(2);
        var ex = Assert.Throws<InvalidDataException>(() => pool.For(100, new ThrowJob { ThrowAt = 37 }));
        Assert.Equal("item 37", ex.Message);
        var counts = new int[10];
        fixed (int* p = counts)
            pool.For(10, new CountJob { Counts = p });
        Assert.All(counts, c => Assert.Equal(1, c));
    }

    [Fact]
    public void For_CalledFromInsideALoop_Throws()
    {
        using var pool = new WorkerPool(2);
        Assert.Throws<InvalidOperationException>(() => pool.For(4, new NestedJob { Pool = pool }));
    }

    [Fact]
    public void Dispose_StopsWorkersAndLaterCallsThrow()
    {
        var pool = new WorkerPool(3);
        pool.Dispose();
        Assert.Throws<ObjectDisposedException>(() => pool.For(3, new CountJob()));
    }
}
