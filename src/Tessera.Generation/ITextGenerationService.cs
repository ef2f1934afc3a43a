using Tessera.Generation.Tools;

namespace Tessera.Generation;

/// <summary>
/// What an API front end needs from whatever runs models: a whole model in this process or a pipeline of stages
/// across the pool. Implementations are thread-safe; each generation is an independent session.
/// </summary>
public interface ITextGenerationService
{
    /// <summary>Models this service can run now.</summary>
    IReadOnlyList<ServedModel> ListModels();

    /// <summary>The model named <paramref name="id"/>, or null.</summary>
    ServedModel? FindModel(string id);

    /// <summary>
    /// Whether <paramref name="model"/> would take one more session now (a slot free, or room in its queue). Front ends
    /// ask before they render and tokenize a request, so that a server that is full answers 429 without spending CPU
    /// on it. A hint: <see cref="GenerateAsync"/> decides, and may still refuse when requests race.
    /// </summary>
    bool HasRoom(string model);

    /// <summary>
    /// Renders <paramref name="messages"/> with the model's chat template (ending with the assistant's turn) and tokenizes.
    /// <paramref name="tools"/>, when given, are described to the model as its template's tool-call format wants
    /// (<see cref="ServedModel.ToolCallFormat"/>, which also reads the reply).
    /// </summary>
    /// <exception cref="UnknownModelException">No such model.</exception>
    /// <exception cref="ConversationRejectedException">The template rejects the conversation (message says why).</exception>
    int[] TokenizeChat(string model, IReadOnlyList<ChatMessage> messages, ChatTools? tools = null);

    /// <summary>Tokenizes a plain prompt (with BOS where the model wants it).</summary>
    int[] TokenizePrompt(string model, string prompt);

    /// <summary>
    /// Streams the tokens generated after <paramref name="prompt"/>. The last token carries its
    /// <see cref="GeneratedToken.Finish"/>: <see cref="FinishReason.Stop"/> at an end-of-generation token (included, with
    /// the text still held back, usually empty) or <see cref="FinishReason.Length"/> at
    /// <see cref="GenerationOptions.MaxTokens"/> or a full context (see <see cref="GenerationLimits"/>). The texts of the
    /// tokens continue the prompt: the prompt's text followed by them is the decode of the prompt and the generated ids.
    /// Cancelling frees the session everywhere.
    /// </summary>
    /// <exception cref="UnknownModelException">No such model.</exception>
    /// <exception cref="ArgumentException">The request is not valid (<see cref="GenerationRequest.Validate"/>).</exception>
    /// <exception cref="ContextFullException">Prompt plus one token does not fit the context.</exception>
    /// <exception cref="CapacityExceededException">Too many sessions are waiting; retry later.</exception>
    IAsyncEnumerable<GeneratedToken> GenerateAsync(string model, int[] prompt, GenerationOptions options, CancellationToken cancellation);

    /// <summary>
    /// Embeds each of <paramref name="inputs"/> (token ids, BOS included as for completions): the model's hidden states
    /// after its final norm, pooled per input (see <see cref="EmbeddingOptions.Pooling"/>) and L2-normalised.
    /// </summary>
    /// <exception cref="UnknownModelException">No such model.</exception>
    /// <exception cref="ArgumentException">The request is not valid (<see cref="EmbeddingRequest.Validate"/>; the parameter names the field).</exception>
    /// <exception cref="CapacityExceededException">Too many sessions are waiting; retry later.</exception>
    Task<EmbeddingResult> EmbedAsync(string model, IReadOnlyList<int[]> inputs, EmbeddingOptions options, CancellationToken cancellation);
}
