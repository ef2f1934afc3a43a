namespace Tessera.Serving;

/// <summary>
/// Writes messages to one gRPC stream in order, from any thread, with no pump of its own: a caller that finds the stream
/// idle writes on its own thread, so a stage's compute thread hands a step's activations (or tokens) straight to the
/// transport instead of waking a pump task on the thread pool, a hand-off on every token's path. While a write is in
/// flight, messages queue (up to a bound) and that write's completion sends them.
/// </summary>
/// <remarks>
/// gRPC allows one write at a time on a stream; this type is what guarantees it. The first failure (a write or the
/// completion throwing) drops what is queued and every later message, and runs the failure handler once.
/// </remarks>
internal sealed class StreamSender<T> where T : class
{
    private readonly Func<T, Task> _write;
    private readonly Func<Task>? _complete;
    private readonly Func<Exception, Task>? _failed;
    private readonly Func<Queue<T>, T>? _merge;
    private readonly int _capacity;
    private readonly Lock _lock = new();
    private readonly Queue<T> _queue = new();
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _writing;
    private bool _completing;
    private bool _faulted;

    /// <param name="write">Writes one message (the stream's WriteAsync).</param>
    /// <param name="capacity">Messages that may wait behind a write in flight; <see cref="TryWrite"/> refuses more.</param>
    /// <param name="complete">Ends the stream once everything is written (a client's CompleteAsync); null: nothing to do.</param>
    /// <param name="failed">Called once, with the first exception a write or the completion threw.</param>
    /// <param name="merge">Turns every waiting message into one (one write instead of several); null: one at a time.</param>
    public StreamSender(Func<T, Task> write, int capacity, Func<Task>? complete = null, Func<Exception, Task>? failed = null, Func<Queue<T>, T>? merge = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _write = write;
        _capacity = capacity;
        _complete = complete;
        _failed = failed;
        _merge = merge;
    }

    /// <summary>Finishes when the stream was completed after its last message, or failed.</summary>
    public Task Completion => _done.Task;

    /// <summary>
    /// Writes <paramref name="message"/> now on this thread when no write is in flight, or queues it. False when the
    /// backlog is full or <see cref="Complete"/> was called; true (and the message dropped) once the stream has failed.
    /// </summary>
    public bool TryWrite(T message)
    {
        lock (_lock)
        {
            if (_faulted)
                return true;
            if (_completing)
                return false;
            if (_writing)
            {
                if (_queue.Count >= _capacity)
                    return false;
                _queue.Enqueue(message);
                return true;
            }
            _writing = true;
        }
        Send(message);
        return true;
    }

    /// <summary>Ends the stream after the messages already given (at once when none is waiting).</summary>
    public void Complete()
    {
        lock (_lock)
        {
            if (_completing || _faulted)
                return;
            _completing = true;
            if (_writing)
                return; // the write in flight finishes it
        }
        _ = FinishAsync();
    }

    private void Send(T message)
    {
        while (true)
        {
            Task write;
            try
            {
                write = _write(message);
            }
            catch (Exception e)
            {
                _ = FailAsync(e);
                return;
            }
            if (!write.IsCompletedSuccessfully)
            {
                _ = ContinueAsync(write);
                return;
            }
            if (!TryTakeNext(out message))
                return;
        }
    }

    private async Task ContinueAsync(Task write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await FailAsync(e).ConfigureAwait(false);
            return;
        }
        if (TryTakeNext(out var message))
            Send(message);
    }

    /// <summary>The next message to write, or false with the stream marked idle (and finished, when completing).</summary>
    private bool TryTakeNext(out T message)
    {
        bool finish;
        lock (_lock)
        {
            if (_queue.Count > 0 && !_faulted)
            {
                message = _merge is null || _queue.Count == 1 ? _queue.Dequeue() : _merge(_queue);
                return true;
            }
            _writing = false;
            finish = _completing && !_faulted;
        }
        message = null!;
        if (finish)
            _ = FinishAsync();
        return false;
    }

    private async Task FinishAsync()
    {
        try
        {
            if (_complete is not null)
                await _complete().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await FailAsync(e).ConfigureAwait(false);
            return;
        }
        _done.TrySetResult();
    }

    private async Task FailAsync(Exception error)
    {
        lock (_lock)
        {
            if (_faulted)
                return;
            _faulted = true;
            _writing = false;
            _queue.Clear();
        }
        try
        {
            if (_failed is not null)
                await _failed(error).ConfigureAwait(false);
        }
        finally
        {
            _done.TrySetResult();
        }
    }
}
