using Tessera.Distribution;

namespace Tessera.Cli.Commands;

/// <summary>
/// What a <c>--model</c> names, as a local file: a path; a name <c>tessera models</c> lists (<c>ollama:llama3.2:3b</c>,
/// <c>lmstudio:publisher/repo/file.gguf</c>, an <c>hf://</c> address already in Hugging Face's cache, a
/// <c>sha256:</c> hash in Tessera's cache), used in place; nothing: the small synthetic model.
/// </summary>
internal static class ModelArgument
{
    public static string Resolve(string? argument)
    {
        if (argument is null)
            return DefaultModel.EnsureExists();
        if (File.Exists(argument))
            return argument;
        var models = DiskModels.Find(ModelLocations.ForThisMachine(ContentStore.DefaultRoot()));
        if (DiskModels.Resolve(argument, models) is { } found)
            return found.Path;
        var hint = argument.StartsWith("hf://", StringComparison.Ordinal)
            ? " It is not in Hugging Face's cache on this machine: fetch it with `tessera model pull " + argument + "` (or deploy it: the coordinator downloads it)."
            : argument.Contains(':', StringComparison.Ordinal) ? " `tessera models` lists the names found on this machine." : "";
        throw new FileNotFoundException($"Model '{argument}' is neither a file nor a model found on this machine.{hint}");
    }
}
