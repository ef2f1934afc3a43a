using Tessera.Engine.Generation;
using Tessera.Engine.Gguf;
using Tessera.Engine.Templates;
using Tessera.Engine.Tokenization;
using Tessera.Generation;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Generation;

public sealed class ChatPromptTests
{
    private static Tokenizer LlamaSpm()
    {
        using var gguf = GgufFile.Open(TestPaths.Vocab("ggml-vocab-llama-spm.gguf"));
        return Tokenizer.FromGguf(gguf.Metadata);
    }

    [Fact]
    public void TemplateThatWritesBos_GetsExactlyOneBos()
    {
        var tokenizer = LlamaSpm();
        var template = ChatTemplate.Parse("{{ bos_token }}[INST] {{ messages[0]['content'] }} [/INST]");

        var tokens = ChatPrompt.Tokenize(template, tokenizer, [new ChatMessage("user", "Hi")]);

        Assert.Equal(tokenizer.BosId, tokens[0]);
        Assert.NotEqual(tokenizer.BosId, tokens[1]);
    }

    [Fact]
    public void TemplateWithoutBos_GetsTheModelsBos()
    {
        var tokenizer = LlamaSpm();
        var template = ChatTemplate.Parse("[INST] {{ messages[0]['content'] }} [/INST]");

        var tokens = ChatPrompt.Tokenize(template, tokenizer, [new ChatMessage("user", "Hi")]);

        Assert.Equal(tokenizer.BosId, tokens[0]);
        Assert.Equal(1, tokens.Count(t => t == tokenizer.BosId));
    }
}
