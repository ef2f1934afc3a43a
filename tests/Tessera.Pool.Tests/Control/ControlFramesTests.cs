using System.Buffers;
using System.IO.Pipelines;
using Tessera.Pool.Control;
using Tessera.Pool.Protocol;

namespace Tessera.Pool.Tests.Control;

public sealed class ControlFramesTests
{
    private static AgentMessage Beat(long sequence) => new() { Heartbeat = new Heartbeat { Sequence = sequence, Metrics = new Metrics { CpuBusyPercent = sequence } } };

    [Fact]
    public async Task Frames_WrittenTogether_AndArrivingAByteAtATime_ReadBackAsTheSameMessages_ThenNullAtTheEnd()
    {
        var written = new Pipe();
        var messages = new[] { Beat(1), new AgentMessage { Hello = new Hello { Name = new string('n', 300) } }, new AgentMessage(), Beat(1L << 40) };
        foreach (var m in messages)
            ControlFrames.Write(written.Writer, m);
        await written.Writer.CompleteAsync();
        var bytes = (await written.Reader.ReadAsync()).Buffer.ToArray();
        // 300 bytes of name need a two-byte length; the empty message is a lone 0.
        Assert.Equal(messages.Sum(m => m.CalculateSize() + (m.CalculateSize() < 128 ? 1 : 2)), bytes.Length);

        var trickle = new Pipe();
        var feeding = Task.Run(async () =>
        {
            foreach (var b in bytes)
                await trickle.Writer.WriteAsync(new byte[] { b });
            await trickle.Writer.CompleteAsync();
        });
        foreach (var expected in messages)
            Assert.Equal(expected, await ControlFrames.ReadAsync(trickle.Reader, AgentMessage.Parser, CancellationToken.None));
        Assert.Null(await ControlFrames.ReadAsync(trickle.Reader, AgentMessage.Parser, CancellationToken.None));
        await feeding;
    }

    [Theory]
    [InlineData(new byte[] { 0x81, 0x80, 0x80, 0x02 }, "announces 4194305 bytes")] // 4 MiB + 1
    [InlineData(new byte[] { 0xFF, 0xFF, 0xFF, 0xFF, 0x7F }, "not a 32-bit varint")]
    [InlineData(new byte[] { 0x02, 0xFF, 0xFF }, "is not a AgentMessage")]
    public async Task BrokenFrames_AreInvalidData_WithWhatIsWrong(byte[] bytes, string says)
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(bytes);
        var error = await Assert.ThrowsAsync<InvalidDataException>(async () => await ControlFrames.ReadAsync(pipe.Reader, AgentMessage.Parser, CancellationToken.None));
        Assert.Contains(says, error.Message);
    }

    [Fact]
    public async Task AStreamEndingInsideAFrame_IsEndOfStream_NotAMessage()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 10, 1, 2, 3 });
        await pipe.Writer.CompleteAsync();
        var error = await Assert.ThrowsAsync<EndOfStreamException>(async () => await ControlFrames.ReadAsync(pipe.Reader, AgentMessage.Parser, CancellationToken.None));
        Assert.Contains("4 bytes of it arrived", error.Message);
    }

    [Fact]
    public void AMessageOverTheLimit_IsNotWritten()
    {
        var pipe = new Pipe();
        var huge = new AgentMessage { Hello = new Hello { Name = new string('x', ControlFrames.MaxMessageBytes) } };
        Assert.Throws<InvalidOperationException>(() => ControlFrames.Write(pipe.Writer, huge));
        Assert.Equal(0, pipe.Writer.UnflushedBytes);
    }
}
