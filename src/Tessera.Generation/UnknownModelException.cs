namespace Tessera.Generation;

/// <summary>The requested model is not served.</summary>
public sealed class UnknownModelException(string model)
    : Exception($"The model '{model}' does not exist or is not deployed; list models with GET /v1/models.")
{
    public string Model { get; } = model;
}
