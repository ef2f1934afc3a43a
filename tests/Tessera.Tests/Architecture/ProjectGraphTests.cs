using System.Xml.Linq;
using Tessera.Testing;

namespace Tessera.Tests.Architecture;

/// <summary>
/// The project graph stays as docs/architecture.md draws it: every project under src/ has a row in its table, references
/// only the projects its row allows, and never reaches (through any path) a project its row forbids.
/// </summary>
public sealed class ProjectGraphTests
{
    [Fact]
    public void EverySourceProject_ReferencesOnlyWhatTheArchitectureDocAllows()
    {
        var rules = ProjectRules.Parse(File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "docs", "architecture.md")));
        var graph = ReadGraph(Path.Combine(TestPaths.RepoRoot, "src"));

        Assert.True(rules.Count >= 10, "the table of project rules was not found in docs/architecture.md");
        Assert.Empty(ProjectRules.Violations(rules, graph));
    }

    [Fact]
    public void TheCheck_ReportsAReferenceTheDocDoesNotAllow_AndOneReachedThroughAnotherProject()
    {
        var rules = ProjectRules.Parse("""
            | project | may reference | must never reach |
            |---|---|---|
            | Tessera.Generation | — | every other project |
            | Tessera.Storage | — | every other project |
            | Tessera.Api | Generation, Storage | Engine |
            | Tessera.Engine | Generation | Api |
            """);
        var graph = new Dictionary<string, IReadOnlyList<string>>
        {
            ["Tessera.Generation"] = [],
            ["Tessera.Engine"] = ["Tessera.Generation"],
            ["Tessera.Storage"] = ["Tessera.Engine"],
            ["Tessera.Api"] = ["Tessera.Generation", "Tessera.Storage"],
            ["Tessera.Extra"] = [],
        };

        var violations = ProjectRules.Violations(rules, graph);

        Assert.Contains("Tessera.Storage references Tessera.Engine, which its row in docs/architecture.md does not allow", violations);
        Assert.Contains("Tessera.Api reaches Tessera.Engine (through Tessera.Storage), which its row forbids", violations);
        Assert.Contains("Tessera.Extra has no row in the table of docs/architecture.md", violations);
    }

    /// <summary>Each project under <paramref name="src"/> with the projects its .csproj references.</summary>
    private static Dictionary<string, IReadOnlyList<string>> ReadGraph(string src) =>
        Directory.GetFiles(src, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            .ToDictionary(
                p => Path.GetFileNameWithoutExtension(p),
                p => (IReadOnlyList<string>)XDocument.Load(p).Descendants("ProjectReference")
                    .Select(r => Path.GetFileNameWithoutExtension(r.Attribute("Include")!.Value.Replace('\\', '/')))
                    .ToList());
}

/// <summary>A row of the architecture doc's table: what a project may reference directly, and what it must never reach.</summary>
internal sealed record ProjectRule(string Project, bool MayReferenceAny, IReadOnlySet<string> Allowed, bool ForbidsAllOthers, IReadOnlySet<string> Forbidden);

internal static class ProjectRules
{
    /// <summary>The rows of the table whose header starts with "| project | may reference |".</summary>
    public static Dictionary<string, ProjectRule> Parse(string markdown)
    {
        var rules = new Dictionary<string, ProjectRule>(StringComparer.Ordinal);
        var inTable = false;
        foreach (var raw in markdown.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("| project | may reference |", StringComparison.Ordinal))
            {
                inTable = true;
                continue;
            }
            if (!inTable || line.StartsWith("|---", StringComparison.Ordinal))
                continue;
            if (!line.StartsWith('|'))
            {
                inTable = false;
                continue;
            }
            var cells = line.Trim('|').Split('|').Select(c => c.Trim()).ToArray();
            var project = cells[0];
            rules[project] = new ProjectRule(project, cells[1] == "every project", Names(cells[1]), cells[2] == "every other project", Names(cells[2]));
        }
        return rules;
    }

    /// <summary>What the graph does that the rules do not allow, in words.</summary>
    public static List<string> Violations(IReadOnlyDictionary<string, ProjectRule> rules, IReadOnlyDictionary<string, IReadOnlyList<string>> graph)
    {
        var violations = new List<string>();
        foreach (var (project, references) in graph.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!rules.TryGetValue(project, out var rule))
            {
                violations.Add($"{project} has no row in the table of docs/architecture.md");
                continue;
            }
            foreach (var reference in references.Where(r => !rule.MayReferenceAny && !rule.Allowed.Contains(r)))
                violations.Add($"{project} references {reference}, which its row in docs/architecture.md does not allow");
            foreach (var (reached, through) in Reachable(project, graph))
            {
                if ((rule.ForbidsAllOthers && reached != project) || rule.Forbidden.Contains(reached))
                    violations.Add(through is null
                        ? $"{project} reaches {reached}, which its row forbids"
                        : $"{project} reaches {reached} (through {through}), which its row forbids");
            }
        }
        foreach (var missing in rules.Keys.Where(p => !graph.ContainsKey(p)))
            violations.Add($"docs/architecture.md has a row for {missing}, which is not a project under src/");
        return violations;
    }

    /// <summary>Every project reachable from <paramref name="project"/>, with the direct reference it is reached through (null: it is one).</summary>
    private static Dictionary<string, string?> Reachable(string project, IReadOnlyDictionary<string, IReadOnlyList<string>> graph)
    {
        var reached = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var direct in graph.GetValueOrDefault(project) ?? [])
        {
            reached.TryAdd(direct, null);
            var pending = new Stack<string>([direct]);
            while (pending.TryPop(out var next))
            {
                foreach (var further in graph.GetValueOrDefault(next) ?? [])
                {
                    if (reached.TryAdd(further, direct))
                        pending.Push(further);
                }
            }
        }
        return reached;
    }

    /// <summary>"Generation, Planner.Gguf" as project names; "—" or prose as none.</summary>
    private static HashSet<string> Names(string cell) =>
        cell.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Where(n => n != "—" && !n.Contains(' ', StringComparison.Ordinal))
            .Select(n => "Tessera." + n)
            .ToHashSet(StringComparer.Ordinal);
}
