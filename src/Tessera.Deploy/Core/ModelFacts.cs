using Tessera.Engine.Templates;
using Tessera.Engine.Tokenization;
using Tessera.Planner;

namespace Tessera.Deploy;

/// <summary>
/// What the coordinator needs of a deployed model, read once from its GGUF: the planner's profile, the model's own
/// context length, and the tokenizer and chat template that /v1 requests are rendered and tokenized with.
/// </summary>
public sealed record ModelFacts(ModelProfile Profile, int ContextLength, Tokenizer Tokenizer, ChatTemplate? ChatTemplate);
