using Tessera.Pool.Coordinator;
using Tessera.Pool.Protocol;

namespace Tessera.Pool.Tests.Coordinator;

public sealed class AgentOutboxTests
{
    private static CoordinatorMessage Ack(long sequence) => new() { HeartbeatAck = new HeartbeatAck { Sequence = sequence, State = "ready" } };

    private static CoordinatorMessage Start(string id) => new() { Command = new Command { CommandId = id, StartStage = new StartStageCommand { DeploymentId = "dep" } } };

    private static async Task<List<CoordinatorMessage>> DrainAsync(AgentOutbox outbox)
    {
        outbox.TryComplete();
        var read = new List<CoordinatorMessage>();
        await foreach (var message in outbox.ReadAllAsync(CancellationToken.None))
            read.Add(message);
        return read;
    }

    // The old outbox held 64 messages and dropped the oldest: a command behind a burst of acknowledgements was lost.
    [Fact]
    public async Task CommandsBehindAThousandAcknowledgements_AllArrive_InOrder_WithOneAcknowledgementCarryingTheNewest()
    {
        var outbox = new AgentOutbox();
        var sequence = 0L;
        for (var command = 0; command < 3; command++)
        {
            for (var i = 0; i < 1000; i++)
                Assert.True(outbox.TryWrite(Ack(++sequence)));
            Assert.True(outbox.TryWrite(Start("cmd_" + command)));
        }

        var read = await DrainAsync(outbox);

        Assert.Equal(["cmd_0", "cmd_1", "cmd_2"], read.Where(m => m.Command is not null).Select(m => m.Command.CommandId));
        var ack = Assert.Single(read, m => m.HeartbeatAck is not null);
        Assert.Equal(sequence, ack.HeartbeatAck.Sequence);
        Assert.Equal(4, read.Count);
    }

    [Fact]
    public async Task AnAcknowledgementAlreadyTaken_IsNotChanged_AndTheNextOneQueuesBehindIt()
    {
        var outbox = new AgentOutbox();
        outbox.TryWrite(Ack(1));
        await using var reader = outbox.ReadAllAsync(CancellationToken.None).GetAsyncEnumerator();
        Assert.True(await reader.MoveNextAsync());
        var first = reader.Current;

        outbox.TryWrite(Ack(2));
        outbox.TryWrite(Ack(3));
        outbox.TryComplete();

        Assert.Equal(1, first.HeartbeatAck.Sequence);
        Assert.True(await reader.MoveNextAsync());
        Assert.Equal(3, reader.Current.HeartbeatAck.Sequence);
        Assert.False(await reader.MoveNextAsync());
    }

    [Fact]
    public async Task AnAgentThatReadsNothing_IsCutOffAfterTheBound_WithoutLosingWhatWasQueued()
    {
        var outbox = new AgentOutbox();
        for (var i = 0; i < AgentOutbox.MaxQueued; i++)
            Assert.True(outbox.TryWrite(Start("cmd_" + i)));

        Assert.False(outbox.TryWrite(Start("one too many")));
        Assert.False(outbox.TryWrite(Ack(1)));

        var read = new List<string>();
        var error = await Assert.ThrowsAsync<AgentOutboxFullException>(async () =>
        {
            await foreach (var message in outbox.ReadAllAsync(CancellationToken.None))
                read.Add(message.Command.CommandId);
        });
        Assert.Equal(AgentOutbox.MaxQueued, read.Count);
        Assert.Equal("cmd_0", read[0]);
        Assert.Contains("reconnects", error.Message);
    }
}
