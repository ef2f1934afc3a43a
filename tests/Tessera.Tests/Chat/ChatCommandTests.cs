using Tessera.Cli.Chat;
using Tessera.Cli.Commands;
using Tessera.Testing;

namespace Tessera.Tests.Chat;

public sealed class ChatCommandTests
{
    [Fact]
    public async Task Chat_StreamsRepliesAndKeepsTheConversation()
    {
        using var backend = new LocalChatBackend(TestPaths.Model("tiny-a-q8_0.gguf"), threads: 2, context: 512);
        var settings = new ChatSettings(MaxTokens: 6, Temperature: 0, TopP: 1, Seed: 1);
        var output = new StringWriter();

        var code = await ChatCommand.RunAsync(backend, "Be brief.", settings, new StringReader("Hello\n/reset\nHello\nAgain\n/exit\n"), output, CancellationToken.None);

        Assert.Equal(0, code);
        var replies = output.ToString().Split("> ", StringSplitOptions.None).Skip(1).Select(r => r.TrimEnd('\n')).ToArray();
        // Hello, (reset), Hello, Again, exit: the same greedy reply after a reset, a different one later in the conversation.
        Assert.Equal(5, replies.Length);
        Assert.False(string.IsNullOrEmpty(replies[0]));
        Assert.Equal(replies[0], replies[2]);
        Assert.NotEqual(replies[2], replies[3]);
    }

    [Fact]
    public void ChunkParser_ReadsDeltasAndRaisesErrors()
    {
        Assert.Equal("Hi", OpenAiChatBackend.ContentOf("{\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}"));
        Assert.Null(OpenAiChatBackend.ContentOf("{\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}"));
        var e = Assert.Throws<InvalidOperationException>(() => OpenAiChatBackend.ContentOf("{\"error\":{\"message\":\"boom\"}}"));
        Assert.Equal("boom", e.Message);
    }
}
