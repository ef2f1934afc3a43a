using Tessera.Serving;

namespace Tessera.Serving.Tests;

/// <summary>How the first stage splits decoding sessions: one group per machine of the pipeline, judged by host.</summary>
public sealed class MicroBatchingTests
{
    [Theory]
    [InlineData("127.0.0.1", new[] { "127.0.0.1:5001", "127.0.0.1:5002" }, 1)] // every stage on this machine
    [InlineData("127.0.0.1", new[] { "127.0.0.2:5001" }, 2)]
    [InlineData("10.0.0.1", new[] { "10.0.0.2:5001", "10.0.0.3:5001", "10.0.0.2:5002" }, 3)] // a host with two stages counts once
    [InlineData("::ffff:10.0.0.1", new[] { "10.0.0.1:5001" }, 1)] // a dual-stack socket's view of an IPv4 address
    [InlineData("::1", new[] { "[::1]:5001" }, 1)]
    [InlineData("10.0.0.1", new string[0], 1)] // the last stage too
    public void Groups_CountTheMachinesOfThePipeline(string local, string[] route, int expected) =>
        Assert.Equal(expected, MicroBatching.Groups(local, route));

    [Fact]
    public void Groups_CountAnUnknownLocalAddressAsAMachineOfItsOwn() =>
        Assert.Equal(2, MicroBatching.Groups(null, ["10.0.0.2:5001"]));

    [Theory]
    [InlineData(8, 2, 4)]
    [InlineData(7, 2, 4)]
    [InlineData(8, 3, 3)]
    [InlineData(2, 2, 1)]
    [InlineData(1, 4, int.MaxValue)] // one session: nothing to split
    [InlineData(8, 1, int.MaxValue)] // one machine: one batch
    public void SessionsPerPass_SpreadTheSessionsEvenly(int sessions, int groups, int expected) =>
        Assert.Equal(expected, MicroBatching.SessionsPerPass(sessions, groups));
}
