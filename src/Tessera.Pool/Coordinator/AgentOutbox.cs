using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Tessera.Pool.Protocol;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// What the coordinator sends down one agent's stream, in order. Commands are never dropped: a start, stop, leave or
/// revocation queued behind acknowledgements reaches the agent. Heartbeat acknowledgements are coalesced instead: at
/// most one waits at a time, and a newer one updates it in place, since an agent needs to know that the coordinator
/// hears it, not every acknowledgement. An agent that reads nothing while <see cref="MaxQueued"/> messages pile up is
/// disconnected (the outbox completes with an error): it reconnects and is sent its current state again, which is
/// what the commands carried.
/// </summary>
internal sealed class AgentOutbox
{
    /// <summary>Messages waiting before the agent is presumed stuck; a busy coordinator sends a few a second.</summary>
    public const int MaxQueued = 4096;

    private readonly Channel<CoordinatorMessage> _queue = Channel.CreateUnbounded<CoordinatorMessage>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Lock _gate = new();
    private HeartbeatAck? _waitingAck;
    private int _queued;

    /// <summary>Messages waiting to be sent.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
                return _queued;
        }
    }

    /// <summary>Queues <paramref name="message"/>; false when the outbox is closed, or full (which closes it).</summary>
    public bool TryWrite(CoordinatorMessage message)
    {
        lock (_gate)
        {
            if (message.KindCase == CoordinatorMessage.KindOneofCase.HeartbeatAck && _waitingAck is { } waiting)
            {
                waiting.Sequence = message.HeartbeatAck.Sequence;
                waiting.State = message.HeartbeatAck.State;
                return true;
            }
            if (_queued >= MaxQueued)
            {
                _queue.Writer.TryComplete(new AgentOutboxFullException($"{MaxQueued} messages to the agent were not read; it is disconnected and will be sent its state again when it reconnects."));
                return false;
            }
            if (!_queue.Writer.TryWrite(message))
                return false;
            _queued++;
            if (message.KindCase == CoordinatorMessage.KindOneofCase.HeartbeatAck)
                _waitingAck = message.HeartbeatAck;
            return true;
        }
    }

    /// <summary>No more messages: the reader ends after the queued ones.</summary>
    public bool TryComplete() => _queue.Writer.TryComplete();

    /// <summary>The messages in order, until the outbox completes; throws <see cref="AgentOutboxFullException"/> when it overflowed.</summary>
    public async IAsyncEnumerable<CoordinatorMessage> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (await _queue.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (TryTake(out var message))
                yield return message;
        }
    }

    private bool TryTake(out CoordinatorMessage message)
    {
        lock (_gate)
        {
            if (!_queue.Reader.TryRead(out message!))
                return false;
            _queued--;
            // Taken: from here on it is being sent, and a newer acknowledgement queues behind it.
            if (ReferenceEquals(message.HeartbeatAck, _waitingAck) && _waitingAck is not null)
                _waitingAck = null;
            return true;
        }
    }
}

/// <summary>An agent's outbox overflowed: the agent stopped reading its stream.</summary>
public sealed class AgentOutboxFullException(string message) : InvalidOperationException(message);
