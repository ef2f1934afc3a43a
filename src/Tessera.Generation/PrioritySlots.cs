namespace Tessera.Generation;

/// <summary>
/// A fixed number of session slots handed out interactive first: a freed slot goes to the longest-waiting interactive
/// request, and to a background one (a batch line) only when no interactive request waits. Waiters in one class are
/// served in arrival order. Thread-safe.
/// </summary>
public sealed class PrioritySlots
{
    private readonly Lock _gate = new();
    private readonly LinkedList<TaskCompletionSource> _interactive = new();
    private readonly LinkedList<TaskCompletionSource> _background = new();
    private int _free;

    public PrioritySlots(int count)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        _free = count;
    }

    /// <summary>Slots free now.</summary>
    public int Free
    {
        get
        {
            lock (_gate)
                return _free;
        }
    }

    /// <summary>Takes a slot, waiting for one in the request's class; give it back with <see cref="Release"/>.</summary>
    public Task WaitAsync(bool background, CancellationToken cancellation)
    {
        LinkedListNode<TaskCompletionSource> node;
        lock (_gate)
        {
            if (_free > 0 && _interactive.Count == 0 && (!background || _background.Count == 0))
            {
                _free--;
                return Task.CompletedTask;
            }
            cancellation.ThrowIfCancellationRequested();
            node = (background ? _background : _interactive).AddLast(new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        }
        if (cancellation.CanBeCanceled)
        {
            var registration = cancellation.Register(() =>
            {
                lock (_gate)
                {
                    // Still waiting: leave the line. Already given a slot: the caller goes on and releases it as usual.
                    if (node.List is null)
                        return;
                    node.List.Remove(node);
                }
                node.Value.TrySetCanceled(cancellation);
            });
            node.Value.Task.ContinueWith(_ => registration.Dispose(), TaskScheduler.Default);
        }
        return node.Value.Task;
    }

    /// <summary>Gives a slot back: to the first interactive waiter, else the first background one, else to the free slots.</summary>
    public void Release()
    {
        TaskCompletionSource? next = null;
        lock (_gate)
        {
            var queue = _interactive.Count > 0 ? _interactive : _background.Count > 0 ? _background : null;
            if (queue is null)
                _free++;
            else
            {
                next = queue.First!.Value;
                queue.RemoveFirst();
            }
        }
        next?.TrySetResult();
    }
}
