using System.Runtime.CompilerServices;
using Tessera.Engine.Generation;
using Tessera.Engine.Sampling;
using Tessera.Engine.Templates;
using Tessera.Generation;

namespace Tessera.Cli.Chat;

/// <summary>Chats with a GGUF model loaded in this process.</summary>
internal sealed class LocalChatBackend : IChatBackend
{
    private readonly LocalModel _model;
    private readonly LocalGenerationService _service;
    private readonly string _id;

    public LocalChatBackend(string path, int threads, int? context)
    {
        _model = LocalModel.Load(path, threads, context);
        _id = Path.GetFileNameWithoutExtension(path);
        _service = new LocalGenerationService(_model, _id, new LocalGenerationServiceOptions { ContextLength = context });
    }

    public string Description => $"{_model.File.FilePath} in this process ({_model.Backend.Name})";

    public async IAsyncEnumerable<string> ReplyAsync(IReadOnlyList<ChatMessage> messages, ChatSettings settings,
        [EnumeratorCancellation] CancellationToken cancellation)
    {
        var prompt = _service.TokenizeChat(_id, messages);
        var sampling = new SamplingParameters
        {
            Temperature = settings.Temperature,
            TopP = settings.TopP,
            Seed = settings.Seed ?? (ulong)Random.Shared.NextInt64(),
        };
        await foreach (var token in _service.GenerateAsync(_id, prompt, new GenerationOptions(sampling, settings.MaxTokens), cancellation).ConfigureAwait(false))
            yield return token.Text;
    }

    public void Dispose()
    {
        _service.Dispose();
        _model.Dispose();
    }
}
