namespace Tessera.Engine.Gguf;

/// <summary>
/// A model split over several GGUF files as llama.cpp's gguf-split writes it: every part is a GGUF file of its own
/// carrying <see cref="NoKey"/> (zero-based), <see cref="CountKey"/> and <see cref="TensorsCountKey"/> (the tensors of
/// the whole model) with its own tensors' infos and data; part 1 also holds all of the model's metadata. The parts are
/// found by name (<see cref="GgufSplitName"/>), so a set opens from any of its parts; each is checked to belong to the
/// set, and a missing or foreign part is an error naming its file.
/// </summary>
public static class GgufSplitSet
{
    public const string NoKey = "split.no";
    public const string CountKey = "split.count";
    public const string TensorsCountKey = "split.tensors.count";

    /// <summary>Whether <paramref name="file"/> says it is one part of several.</summary>
    internal static bool IsPart(GgufMappedFile file) => Count(file) > 1;

    /// <summary>The whole set <paramref name="opened"/> belongs to; takes ownership of it (disposed on failure by the caller).</summary>
    internal static GgufFile Open(GgufMappedFile opened)
    {
        var count = Count(opened);
        var number = Number(opened, count) + 1;
        if (!GgufSplitName.TryParse(opened.Path, out var name))
            throw new GgufFormatException(opened.Path,
                $"is part {number} of a model split into {count} files, but its name does not end in -{number:D5}-of-{count:D5}.gguf, so its other parts " +
                "cannot be found: keep the names gguf-split gave the parts (or merge them into one file with llama-gguf-split --merge).");
        if (name.Number != number || name.Count != count)
            throw new GgufFormatException(opened.Path,
                $"its name says part {name.Number} of {name.Count} but its {NoKey}/{CountKey} say part {number} of {count}: the file was renamed or belongs to another set.");

        var parts = new GgufMappedFile[count];
        parts[number - 1] = opened;
        try
        {
            for (var i = 1; i <= count; i++)
            {
                if (i == number)
                    continue;
                var path = name.PartName(i);
                if (!File.Exists(path))
                    throw new GgufFormatException(path,
                        $"part {i} of {count} of the split model {opened.Path} is missing: every part of a split model is needed (download or copy all {count}).");
                parts[i - 1] = GgufMappedFile.Open(path);
                var partCount = Count(parts[i - 1]);
                var partNumber = partCount > 1 ? Number(parts[i - 1], partCount) + 1 : 1;
                if (partCount != count || partNumber != i)
                    throw new GgufFormatException(path,
                        $"should be part {i} of {count} of the split model {opened.Path}, but its {NoKey}/{CountKey} say part {partNumber} of {partCount}: it belongs to another set.");
            }
            return new GgufFile(parts, Union(parts));
        }
        catch
        {
            // The caller disposes the part it opened; the others are ours.
            foreach (var part in parts)
            {
                if (part is not null && part != opened)
                    part.Dispose();
            }
            throw;
        }
    }

    /// <summary>Every part's tensors, each marked with its part, checked against the count part 1 announces.</summary>
    private static List<GgufTensorInfo> Union(GgufMappedFile[] parts)
    {
        var expected = TensorsCount(parts[0]);
        var tensors = new List<GgufTensorInfo>();
        var where = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < parts.Length; i++)
        {
            var partTensors = TensorsCount(parts[i]);
            if (partTensors != expected)
                throw new GgufFormatException(parts[i].Path,
                    $"says the split model has {partTensors} tensors ({TensorsCountKey}) but part 1 ({parts[0].Path}) says {expected}: the parts are not of one set.");
            foreach (var t in parts[i].Header.Tensors)
            {
                if (!where.TryAdd(t.Name, i))
                    throw new GgufFormatException(parts[i].Path, $"tensor '{t.Name}' is also in part {where[t.Name] + 1} ({parts[where[t.Name]].Path}): the parts are not of one set.");
                tensors.Add(t with { Part = i });
            }
        }
        if (tensors.Count != expected)
            throw new GgufFormatException(parts[0].Path,
                $"the {parts.Length} parts of the split model hold {tensors.Count} tensors, but {TensorsCountKey} says {expected}: a part is incomplete or of another set.");
        return tensors;
    }

    private static int Count(GgufMappedFile file) =>
        file.Header.Metadata.TryGetInt32(CountKey, 0, GgufSplitName.MaxParts) ?? 0;

    private static int Number(GgufMappedFile file, int count) =>
        file.Header.Metadata.TryGetInt32(NoKey, 0, count - 1)
        ?? throw new GgufFormatException(file.Path, $"has {CountKey} = {count} but no {NoKey}: it is not a valid part of a split model.");

    private static int TensorsCount(GgufMappedFile file) =>
        file.Header.Metadata.TryGetInt32(TensorsCountKey, 0, int.MaxValue)
        ?? throw new GgufFormatException(file.Path, $"is a part of a split model without {TensorsCountKey}.");
}
