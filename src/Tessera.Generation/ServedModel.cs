namespace Tessera.Generation;

/// <summary>A model as clients see it (OpenAI's /v1/models).</summary>
public sealed record ServedModel(string Id, int ContextLength, string OwnedBy, DateTimeOffset Created);
