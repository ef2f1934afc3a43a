using System.Text.Json;

namespace Tessera.Training.Pool;

/// <summary>
/// The evidence plots: validation loss against tokens trained, and against bytes exchanged (log scale), one line per
/// run, drawn from each run folder's history.jsonl (a round recorded twice, after a restart, counts once: the later).
/// </summary>
public static class TrainingPlots
{
    /// <summary>Writes loss-vs-tokens.svg and loss-vs-bytes.svg into <paramref name="outputDirectory"/>; returns their paths.</summary>
    public static IReadOnlyList<string> Write(string outputDirectory, IReadOnlyList<string> runFolders)
    {
        var byTokens = new List<ChartSeries>();
        var byBytes = new List<ChartSeries>();
        foreach (var run in runFolders)
        {
            var folder = TrainingRunFolder.Open(run);
            var rounds = ReadHistory(folder.HistoryPath).Where(r => r.ValidationLoss is not null).ToList();
            var parameters = TrainingCheckpoint.ReadLatest(folder.CheckpointDirectory)?.Header.ParameterCount ?? 0;
            byTokens.Add(new ChartSeries(folder.Config.Name, rounds.Select(r => ((double)r.Tokens, (double)r.ValidationLoss!.Value)).ToList()));
            byBytes.Add(new ChartSeries(folder.Config.Name, rounds.Where(r => r.Round > 0)
                .Select(r => ((double)Math.Max(1, BytesExchanged(folder.Config, r, parameters)), (double)r.ValidationLoss!.Value)).ToList()));
        }
        Directory.CreateDirectory(outputDirectory);
        var tokensPath = Path.Combine(outputDirectory, "loss-vs-tokens.svg");
        var bytesPath = Path.Combine(outputDirectory, "loss-vs-bytes.svg");
        File.WriteAllText(tokensPath, SvgLineChart.Render("Validation loss against tokens trained", "tokens", "validation loss", byTokens));
        File.WriteAllText(bytesPath, SvgLineChart.Render("Validation loss against bytes exchanged", "bytes exchanged (log scale)", "validation loss", byBytes, logX: true));
        return [tokensPath, bytesPath];
    }

    /// <summary>
    /// Bytes exchanged up to the end of a round: as measured, or for a synchronous baseline what its workers would have
    /// sent and received (<see cref="TrainingConfig.SyncBaselineWorkers"/>).
    /// </summary>
    public static long BytesExchanged(TrainingConfig config, RoundRecord round, long parameters) =>
        config.SyncBaselineWorkers is { } workers
            ? (long)round.Round * config.InnerSteps * 2L * 4 * parameters * workers
            : round.BytesUp + round.BytesDown;

    /// <summary>The rounds in a history file, one per round (the last record of each), in order.</summary>
    public static IReadOnlyList<RoundRecord> ReadHistory(string path)
    {
        if (!File.Exists(path)) return [];
        var byRound = new SortedDictionary<int, RoundRecord>();
        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            var record = JsonSerializer.Deserialize<RoundRecord>(line, TrainingConfig.Json);
            if (record is not null) byRound[record.Round] = record;
        }
        return byRound.Values.ToList();
    }
}
