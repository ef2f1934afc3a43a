using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace Tessera.Engine.Kernels;

/// <summary>
/// A persistent pool of compute threads: <see cref="Threads"/> - 1 workers created once, plus the calling thread.
/// <see cref="For{TJob}(int, in TJob)"/> hands out indexes from one shared atomic counter, so threads that finish
/// early take more. Workers spin for a short while after each loop (so back-to-back loops start fast), then block
/// (so an idle pool burns no CPU). A call allocates nothing.
/// </summary>
/// <remarks>
/// Not reentrant and not for concurrent callers: call <see cref="For{TJob}(int, in TJob)"/> from one thread at a
/// time (a second concurrent or nested call throws <see cref="InvalidOperationException"/>).
/// </remarks>
public sealed unsafe class WorkerPool : IDisposable
{
    private static readonly long SpinTicks = Stopwatch.Frequency / 500; // ~2 ms of spinning before blocking

    private readonly Thread[] _workers;
    private readonly object _sleepLock = new();

    // Published by the caller before bumping the generation; read by workers after they see the bump.
    private delegate*<void*, int, void> _runner;
    private void* _job;
    private int _count;

    private int _next;       // next index to claim
    private int _active;     // workers inside a loop's items (or checking whether they may enter)
    private long _generation; // bumped once per parallel loop (64 bits: never wraps)
    private long _open;      // the generation workers may still join; 0 once the caller has finished its own share
    private int _sleepers;   // workers blocked on _sleepLock
    private int _busy;       // 1 while a For is running
    private volatile bool _resting; // set by Rest: spinning workers block at once; cleared by the next For
    private volatile bool _disposed;
    private ExceptionDispatchInfo? _error;

    /// <summary>Creates a pool computing with <paramref name="threads"/> threads (0: one per logical processor).</summary>
    public WorkerPool(int threads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        Threads = threads == 0 ? Environment.ProcessorCount : threads;
        _workers = new Thread[Threads - 1];
        for (var i = 0; i < _workers.Length; i++)
        {
            _workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"tessera-worker-{i + 1}" };
            _workers[i].Start();
        }
    }

    /// <summary>Threads that compute, the caller included.</summary>
    public int Threads { get; }

    /// <summary>
    /// Calls <c>job.Execute(i)</c> once for every i in [0, <paramref name="count"/>), spread over the pool's threads,
    /// and returns when all have finished. The first exception thrown by an item is rethrown here.
    /// </summary>
    public void For<TJob>(int count, in TJob job) where TJob : struct, IParallelJob
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count == 0)
            return;
        if (Interlocked.Exchange(ref _busy, 1) != 0)
            ThrowBusy();
        try
        {
            if (count == 1 || _workers.Length == 0)
            {
                for (var i = 0; i < count; i++)
                    job.Execute(i);
                return;
            }

            _resting = false;
            var local = job; // a stack copy: its address is stable while workers read it
            _runner = &Runner<TJob>.Run;
            _job = Unsafe.AsPointer(ref local);
            _count = count;
            _next = 0;
            Volatile.Write(ref _open, _generation + 1);
            Interlocked.Increment(ref _generation); // full fence: publishes the fields above
            if (Volatile.Read(ref _sleepers) > 0)
            {
                lock (_sleepLock)
                    Monitor.PulseAll(_sleepLock);
            }

            RunItems();

            // Every item is claimed. Close the loop, then wait only for workers that entered it: a worker that is
            // asleep or late sees the loop closed and never touches this job.
            Interlocked.Exchange(ref _open, 0);
            var spin = new SpinWait();
            while (Volatile.Read(ref _active) != 0)
                spin.SpinOnce(sleep1Threshold: -1);

            _runner = null;
            _job = null;
            var error = _error;
            if (error != null)
            {
                _error = null;
                error.Throw();
            }
        }
        finally
        {
            Volatile.Write(ref _busy, 0);
        }
    }

    /// <summary>
    /// Tells the pool no loop is coming soon (a pipeline stage waiting for its next message): workers stop spinning
    /// and block now instead of after ~2 ms, so they leave the cores to another process, such as the next stage on the
    /// same machine. The next <see cref="For{TJob}(int, in TJob)"/> wakes them as usual.
    /// </summary>
    public void Rest() => _resting = true;

    /// <summary>Stops the workers (they finish the loop in progress first).</summary>
    public void Dispose()
    {
        if (_disposed)
            return;
        _disposed = true;
        Interlocked.Increment(ref _generation);
        lock (_sleepLock)
            Monitor.PulseAll(_sleepLock);
        foreach (var worker in _workers)
            worker.Join();
    }

    private void RunItems()
    {
        var runner = _runner;
        var job = _job;
        var count = _count;
        try
        {
            while (true)
            {
                var index = Interlocked.Increment(ref _next) - 1;
                if (index >= count)
                    break;
                runner(job, index);
            }
        }
        catch (Exception ex)
        {
            Interlocked.CompareExchange(ref _error, ExceptionDispatchInfo.Capture(ex), null);
            Volatile.Write(ref _next, count); // stop handing out work
        }
    }

    private void WorkerLoop()
    {
        var seen = 0L; // the generation before any loop (a worker may start after the first loop was published)
        while (true)
        {
            seen = WaitForGeneration(seen);
            if (_disposed)
                return;
            // Enter, then check the loop is still open (both full fences, so the caller either sees this worker
            // active or this worker sees the loop closed).
            Interlocked.Increment(ref _active);
            if (Volatile.Read(ref _open) == seen)
                RunItems();
            Interlocked.Decrement(ref _active);
        }
    }

    private long WaitForGeneration(long seen)
    {
        var start = Stopwatch.GetTimestamp();
        var spins = 0;
        while (true)
        {
            var generation = Volatile.Read(ref _generation);
            if (generation != seen)
                return generation;
            if (++spins < 64)
            {
                Thread.SpinWait(8);
                continue;
            }
            spins = 0;
            if (_resting || Stopwatch.GetTimestamp() - start > SpinTicks)
                break;
            Thread.Yield();
        }

        lock (_sleepLock)
        {
            Interlocked.Increment(ref _sleepers); // full fence, pairs with the caller's generation bump
            long generation;
            while ((generation = Volatile.Read(ref _generation)) == seen)
                Monitor.Wait(_sleepLock);
            Interlocked.Decrement(ref _sleepers);
            return generation;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowBusy() =>
        throw new InvalidOperationException("WorkerPool.For was called while another loop on this pool is running; call it from one thread at a time.");

    private static class Runner<TJob> where TJob : struct, IParallelJob
    {
        public static void Run(void* job, int index) => Unsafe.AsRef<TJob>(job).Execute(index);
    }
}
