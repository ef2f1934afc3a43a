namespace Tessera.Cli.Commands.Chaos;

/// <summary>
/// Threads that spin on the CPU beside the agents, at normal priority, until disposed: a busy machine must slow the
/// pool down, not make it see failures (a node marked down, a stage moved) that nobody caused.
/// </summary>
internal sealed class CpuHog : IDisposable
{
    private readonly Thread[] _threads;
    private volatile bool _stopping;

    public CpuHog(int threads)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        _threads = new Thread[threads];
        for (var i = 0; i < threads; i++)
        {
            _threads[i] = new Thread(Spin) { IsBackground = true, Name = $"chaos cpu hog {i + 1}" };
            _threads[i].Start();
        }
    }

    private void Spin()
    {
        var x = 1UL;
        while (!_stopping)
        {
            // Work the JIT cannot remove, checked against the flag now and then.
            for (var i = 0; i < 1_000_000; i++)
                x = x * 6364136223846793005UL + 1442695040888963407UL;
        }
        GC.KeepAlive(x);
    }

    public void Dispose()
    {
        _stopping = true;
        foreach (var thread in _threads)
            thread.Join();
    }
}
