namespace Tessera.Cli.Commands.Chaos;

/// <summary>A kind of failure a chaos run injects.</summary>
internal enum ChaosFault
{
    /// <summary>SIGKILL of an agent holding a stage (started again later), or once of the coordinator: a crash.</summary>
    Kill,

    /// <summary>SIGSTOP of an agent holding a stage for a few seconds, then SIGCONT: the process lives but makes no progress.</summary>
    Stop,

    /// <summary>A SIGSTOP/SIGCONT duty cycle on an agent holding a stage: it keeps working, several times slower.</summary>
    Slow,

    /// <summary>The network between the hosts of two consecutive stages cut for a few seconds, then restored.</summary>
    Cut,
}

/// <summary>The names of <see cref="ChaosFault"/> as <c>--faults</c> takes them, and the one parser of that list.</summary>
internal static class ChaosFaults
{
    /// <summary>Every fault, in the order the option lists them.</summary>
    public static readonly IReadOnlyList<ChaosFault> All = [ChaosFault.Kill, ChaosFault.Stop, ChaosFault.Slow, ChaosFault.Cut];

    public static string Name(this ChaosFault fault) => fault switch
    {
        ChaosFault.Kill => "kill",
        ChaosFault.Stop => "stop",
        ChaosFault.Slow => "slow",
        ChaosFault.Cut => "cut",
        _ => throw new ArgumentOutOfRangeException(nameof(fault), fault, null),
    };

    /// <summary>
    /// Parses a comma list such as <c>kill,stop</c>; <c>all</c> is every fault and <c>none</c> (alone) none, for a run
    /// that measures false alarms. Duplicates count once; the result keeps the order of <see cref="All"/>.
    /// </summary>
    /// <exception cref="FormatException">An empty list or an unknown name, with the names that are known.</exception>
    public static IReadOnlyList<ChaosFault> Parse(string text)
    {
        var names = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 0)
            throw new FormatException("--faults is empty; name one or more of kill, stop, slow, cut, or all, or none.");
        if (names.Length == 1 && names[0].Equals("none", StringComparison.OrdinalIgnoreCase))
            return [];
        var chosen = new HashSet<ChaosFault>();
        foreach (var name in names)
        {
            if (name.Equals("all", StringComparison.OrdinalIgnoreCase))
                chosen.UnionWith(All);
            else if (All.Where(f => f.Name().Equals(name, StringComparison.OrdinalIgnoreCase)).Select(f => (ChaosFault?)f).FirstOrDefault() is { } fault)
                chosen.Add(fault);
            else
                throw new FormatException($"Unknown fault '{name}' in --faults; the faults are kill, stop, slow and cut (or all, or none alone).");
        }
        return All.Where(chosen.Contains).ToList();
    }

    /// <summary>
    /// The faults a run injects: those <paramref name="text"/> names (<see cref="Parse"/>) that can run with these
    /// settings, and those that cannot with why. A cut needs agents on hosts of their own and two stages: named on
    /// purpose without them it is an error; as part of <c>all</c> it is skipped, so a plain <c>tessera chaos</c> runs anywhere.
    /// </summary>
    /// <exception cref="FormatException">An unknown name, or a cut named where it cannot run.</exception>
    public static (IReadOnlyList<ChaosFault> Faults, IReadOnlyList<string> Skipped) Resolve(string text, bool namespaces, int stages)
    {
        var faults = Parse(text);
        if (!faults.Contains(ChaosFault.Cut))
            return (faults, []);
        var cutNamed = text.Split(',', StringSplitOptions.TrimEntries).Contains("cut", StringComparer.OrdinalIgnoreCase);
        string? why = !namespaces ? "needs --namespaces (agents on hosts of their own; root and iproute2), so the link between two of them can be cut"
            : stages < 2 ? "needs --stages 2 or more: it cuts the link between two consecutive stages"
            : null;
        if (why is null)
            return (faults, []);
        if (cutNamed)
            throw new FormatException("--faults cut " + why + ".");
        return (faults.Where(f => f != ChaosFault.Cut).ToList(), ["cut: " + why]);
    }
}
