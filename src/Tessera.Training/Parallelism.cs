namespace Tessera.Training;

/// <summary>One piece of a parallel loop; a struct, so a single-threaded loop over it allocates nothing.</summary>
internal interface IParallelJob
{
    void Run(int task);
}

/// <summary>
/// Runs tasks 0..n−1 on up to <c>threads</c> threads. The caller splits the work into tasks that do not depend on the
/// thread count and write disjoint outputs, each in a fixed order, so results are bitwise the same whatever the
/// thread count. One thread runs on the caller alone (no other thread touches the data); more use
/// <see cref="Parallel.For(int, int, ParallelOptions, Action{int})"/> for the participants, the caller taking part.
/// </summary>
internal static class Parallelism
{
    public static void For<TJob>(int threads, int tasks, TJob job) where TJob : struct, IParallelJob
    {
        if (threads <= 1 || tasks <= 1)
        {
            for (var i = 0; i < tasks; i++) job.Run(i);
            return;
        }
        OnThreads(threads, tasks, job);
    }

    // Apart, because the closure that captures the job is allocated on entry to the method that has the lambda.
    // Each participant claims one task at a time from a shared counter (not Parallel.For's growing ranges of
    // iterations), so a participant the OS deschedules on a busy machine holds up at most one task.
    private static void OnThreads<TJob>(int threads, int tasks, TJob job) where TJob : struct, IParallelJob
    {
        var next = -1;
        Parallel.For(0, Math.Min(threads, tasks), new ParallelOptions { MaxDegreeOfParallelism = threads }, _ =>
        {
            int task;
            while ((task = Interlocked.Increment(ref next)) < tasks) job.Run(task);
        });
    }
}
