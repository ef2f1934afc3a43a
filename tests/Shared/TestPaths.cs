namespace Tessera.Testing;

/// <summary>Finds the repository and the shared test data (../shared/testdata beside the checkout).</summary>
internal static class TestPaths
{
    private static readonly Lazy<string> RepoRootLazy = new(FindRepoRoot);
    private static readonly Lazy<string> TestDataLazy = new(FindTestData);

    /// <summary>The repository root (the folder holding Tessera.slnx).</summary>
    public static string RepoRoot => RepoRootLazy.Value;

    /// <summary>The shared test data folder: models/, vocab/, chat-templates/.</summary>
    public static string TestData => TestDataLazy.Value;

    public static string Model(string file) => Path.Combine(TestData, "models", file);

    public static string Vocab(string file) => Path.Combine(TestData, "vocab", file);

    public static string ChatTemplate(string file) => Path.Combine(TestData, "chat-templates", file);

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Tessera.slnx")))
                return dir.FullName;
        }
        throw new DirectoryNotFoundException("Tessera.slnx not found above " + AppContext.BaseDirectory);
    }

    private static string FindTestData()
    {
        var env = Environment.GetEnvironmentVariable("TESSERA_TESTDATA");
        if (!string.IsNullOrEmpty(env) && Directory.Exists(env))
            return env;
        for (var dir = new DirectoryInfo(RepoRoot); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "testdata");
            if (Directory.Exists(candidate))
                return candidate;
        }
        throw new DirectoryNotFoundException("shared/testdata not found beside the checkout of " + RepoRoot);
    }
}
