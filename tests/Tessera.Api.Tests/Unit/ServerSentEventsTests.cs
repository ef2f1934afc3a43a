using System.Text;
using Tessera.Api.Streaming;

namespace Tessera.Api.Tests.Unit;

public sealed class ServerSentEventsTests
{
    [Fact]
    public void Event_IsADataLineAndABlankLine()
    {
        var bytes = ServerSentEvents.Event("""{"a":1}"""u8);
        Assert.Equal("data: {\"a\":1}\n\n", Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public void Done_IsTheOpenAiTerminator()
    {
        Assert.Equal("data: [DONE]\n\n", Encoding.UTF8.GetString(ServerSentEvents.Done.Span));
    }

    [Fact]
    public void ParseData_ReadsBackEvents()
    {
        var stream = Encoding.UTF8.GetString(ServerSentEvents.Event("{}"u8)) + Encoding.UTF8.GetString(ServerSentEvents.Done.Span);
        Assert.Equal(["{}", "[DONE]"], ServerSentEvents.ParseData(stream));
    }
}
