using Tessera.Engine.Templates;
using Tessera.Generation;

namespace Tessera.Cli.Chat;

/// <summary>Where <c>tessera chat</c> sends a conversation: a model in this process or an OpenAI-compatible endpoint.</summary>
internal interface IChatBackend : IDisposable
{
    string Description { get; }

    /// <summary>Streams the assistant's reply to <paramref name="messages"/> as text pieces.</summary>
    IAsyncEnumerable<string> ReplyAsync(IReadOnlyList<ChatMessage> messages, ChatSettings settings, CancellationToken cancellation);
}

internal sealed record ChatSettings(int MaxTokens, float Temperature, float TopP, ulong? Seed);
