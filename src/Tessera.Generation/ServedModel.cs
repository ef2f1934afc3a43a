using Tessera.Generation.Tools;

namespace Tessera.Generation;

/// <summary>A model as clients see it (OpenAI's /v1/models).</summary>
public sealed record ServedModel(string Id, int ContextLength, string OwnedBy, DateTimeOffset Created)
{
    /// <summary>How the model writes tool calls (from its chat template): how the API reads a reply to a request with tools.</summary>
    public ToolCallFormat ToolCallFormat { get; init; } = ToolCallFormat.Generic;
}
