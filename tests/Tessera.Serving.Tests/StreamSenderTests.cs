using Tessera.Serving;

namespace Tessera.Serving.Tests;

/// <summary>
/// The ordered writer a stage uses for its lanes' streams: one write at a time, in order, on the caller's thread when the
/// stream is idle, and a failure reported once.
/// </summary>
public sealed class StreamSenderTests
{
    /// <summary>A stream whose writes finish when the test says so (or at once).</summary>
    private sealed class FakeStream
    {
        public List<string> Written { get; } = [];
        public List<int> Threads { get; } = [];
        public TaskCompletionSource? Pending { get; private set; }
        public bool Hold { get; set; }
        public int InFlight;
        public int MaxInFlight;

        public Task WriteAsync(string message)
        {
            var now = Interlocked.Increment(ref InFlight);
            MaxInFlight = Math.Max(MaxInFlight, now);
            lock (Written)
            {
                Written.Add(message);
                Threads.Add(Environment.CurrentManagedThreadId);
            }
            if (!Hold)
            {
                Interlocked.Decrement(ref InFlight);
                return Task.CompletedTask;
            }
            Pending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return Pending.Task.ContinueWith(t => { Interlocked.Decrement(ref InFlight); t.GetAwaiter().GetResult(); }, TaskScheduler.Default);
        }

        /// <summary>Finishes the write in flight (every later one at once).</summary>
        public void Release()
        {
            Hold = false;
            Pending!.SetResult();
        }
    }

    [Fact]
    public void IdleStream_IsWrittenOnTheCallersThread_WithNoHandOff()
    {
        var stream = new FakeStream();
        var sender = new StreamSender<string>(stream.WriteAsync, capacity: 4);

        Assert.True(sender.TryWrite("a"));
        Assert.True(sender.TryWrite("b"));

        Assert.Equal(["a", "b"], stream.Written);
        Assert.All(stream.Threads, id => Assert.Equal(Environment.CurrentManagedThreadId, id));
    }

    [Fact]
    public async Task MessagesDuringAWrite_QueueAndFollowInOrder_OneWriteAtATime()
    {
        var stream = new FakeStream { Hold = true };
        var completed = 0;
        var sender = new StreamSender<string>(stream.WriteAsync, capacity: 8, complete: () =>
        {
            Interlocked.Increment(ref completed);
            return Task.CompletedTask;
        });

        sender.TryWrite("a");
        foreach (var m in new[] { "b", "c", "d" })
            Assert.True(sender.TryWrite(m));
        sender.Complete();
        Assert.Equal(["a"], stream.Written);
        stream.Release();
        await sender.Completion.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(["a", "b", "c", "d"], stream.Written);
        Assert.Equal(1, stream.MaxInFlight);
        Assert.Equal(1, completed);
    }

    [Fact]
    public async Task WaitingMessages_AreMergedIntoOneWrite_WhenAMergeIsGiven()
    {
        var stream = new FakeStream { Hold = true };
        var sender = new StreamSender<string>(stream.WriteAsync, capacity: 8, merge: q =>
        {
            var merged = string.Join("+", q);
            q.Clear();
            return merged;
        });

        sender.TryWrite("a");
        sender.TryWrite("b");
        sender.TryWrite("c");
        sender.Complete();
        stream.Release();
        await sender.Completion.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(["a", "b+c"], stream.Written);
    }

    [Fact]
    public void FullBacklog_IsRefused_AndSoIsAnythingAfterComplete()
    {
        var stream = new FakeStream { Hold = true };
        var sender = new StreamSender<string>(stream.WriteAsync, capacity: 2);

        Assert.True(sender.TryWrite("in flight"));
        Assert.True(sender.TryWrite("1"));
        Assert.True(sender.TryWrite("2"));
        Assert.False(sender.TryWrite("3"));
        sender.Complete();
        stream.Release();

        Assert.False(sender.TryWrite("late"));
    }

    [Fact]
    public async Task FailedWrite_ReportsOnce_DropsTheRest_AndFinishes()
    {
        var failures = new List<Exception>();
        var calls = 0;
        var sender = new StreamSender<string>(_ =>
        {
            calls++;
            return calls == 1 ? Task.FromException(new IOException("reset")) : Task.CompletedTask;
        }, capacity: 4, failed: e =>
        {
            failures.Add(e);
            return Task.CompletedTask;
        });

        sender.TryWrite("a");
        Assert.True(sender.TryWrite("b")); // dropped: the stream is gone, the lane ends through its reader
        sender.Complete();
        await sender.Completion.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1, calls);
        var error = Assert.Single(failures);
        Assert.IsType<IOException>(error);
    }

    [Fact]
    public async Task Complete_WithNothingWaiting_CompletesTheStreamAtOnce()
    {
        var completed = false;
        var sender = new StreamSender<string>(_ => Task.CompletedTask, capacity: 1, complete: () =>
        {
            completed = true;
            return Task.CompletedTask;
        });

        sender.Complete();
        await sender.Completion.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(completed);
    }
}
