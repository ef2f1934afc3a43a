using Tessera.Engine.Backends;
using Tessera.Engine.Gguf;
using Tessera.Engine.Model;
using Tessera.Engine.Templates;
using Tessera.Engine.Tokenization;
using Tessera.Generation;

namespace Tessera.Engine.Generation;

/// <summary>A whole model loaded in this process: file, backend, stage, tokenizer and chat template.</summary>
public sealed class LocalModel : IDisposable
{
    private LocalModel(GgufFile file, IComputeBackend backend, TransformerStage stage, Tokenizer tokenizer, ChatTemplate? template)
    {
        File = file;
        Backend = backend;
        Stage = stage;
        Tokenizer = tokenizer;
        ChatTemplate = template;
        Generator = new LocalGenerator(stage, tokenizer);
    }

    public GgufFile File { get; }
    public IComputeBackend Backend { get; }
    public TransformerStage Stage { get; }
    public Tokenizer Tokenizer { get; }
    public ChatTemplate? ChatTemplate { get; }
    public LocalGenerator Generator { get; }

    /// <summary>
    /// Opens <paramref name="path"/> and loads every layer onto <paramref name="device"/> (default the CPU), whose
    /// backend <paramref name="backends"/> creates (default: CPU only).
    /// </summary>
    public static LocalModel Load(string path, int threads = 0, int? contextLength = null, string device = ComputeDevices.Cpu, IBackendFactory? backends = null)
    {
        var file = GgufFile.Open(path);
        IComputeBackend? backend = null;
        try
        {
            backend = (backends ?? CpuBackendFactory.Instance).Create(device, threads);
            var config = ModelConfig.FromGguf(file);
            var stage = new TransformerStage(file, LayerRange.All(config.BlockCount), backend, contextLength);
            var tokenizer = Tokenizer.FromGguf(file.Metadata);
            var source = file.Metadata.TryGetString("tokenizer.chat_template");
            var template = source == null ? null : Templates.ChatTemplate.Parse(source);
            return new LocalModel(file, backend, stage, tokenizer, template);
        }
        catch
        {
            backend?.Dispose();
            file.Dispose();
            throw;
        }
    }

    /// <summary>Renders <paramref name="messages"/> with the model's chat template (ending with the assistant's turn).</summary>
    public string ApplyChatTemplate(IReadOnlyList<ChatMessage> messages) => ChatPrompt.Render(RequireTemplate(), Tokenizer, messages);

    /// <summary>The prompt tokens of <paramref name="messages"/> under the model's chat template.</summary>
    public int[] TokenizeChat(IReadOnlyList<ChatMessage> messages) => ChatPrompt.Tokenize(RequireTemplate(), Tokenizer, messages);

    private ChatTemplate RequireTemplate() => ChatTemplate
        ?? throw new InvalidOperationException($"{File.FilePath} has no tokenizer.chat_template; use a plain prompt instead of chat.");

    public void Dispose()
    {
        Stage.Dispose(); // after every generation on it has stopped (services are disposed first)
        Backend.Dispose();
        File.Dispose();
    }
}
