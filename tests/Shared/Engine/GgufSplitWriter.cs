using Tessera.Engine.Gguf;

namespace Tessera.Testing;

/// <summary>
/// Splits a GGUF file the way llama.cpp's gguf-split does (<c>--split-max-tensors</c>): part 1 holds all of the model's
/// metadata, every part carries split.no, split.count and split.tensors.count and its own share of the tensors (their
/// infos and data, bytes unchanged), named <c>PREFIX-00001-of-0000N.gguf</c>.
/// </summary>
internal static class GgufSplitWriter
{
    /// <summary>Writes <paramref name="parts"/> files beside <paramref name="prefix"/> and returns their paths, part 1 first.</summary>
    public static IReadOnlyList<string> Split(string source, string prefix, int parts)
    {
        using var file = GgufFile.Open(source);
        var tensors = file.Tensors;
        var perPart = (tensors.Count + parts - 1) / parts;
        var names = new GgufSplitName(prefix, 1, parts).AllParts();
        for (var i = 0; i < parts; i++)
        {
            var writer = new GgufWriter(file.Alignment);
            if (i == 0)
            {
                foreach (var key in file.Metadata.Keys.Where(k => k != "general.alignment"))
                    writer.Add(key, file.Metadata[key]);
            }
            writer.Add(GgufSplitSet.NoKey, (ushort)i);
            writer.Add(GgufSplitSet.CountKey, (ushort)parts);
            writer.Add(GgufSplitSet.TensorsCountKey, tensors.Count);
            foreach (var tensor in tensors.Skip(i * perPart).Take(perPart))
                writer.AddTensor(tensor.Name, tensor.Type, tensor.Dimensions, file.GetData(tensor).ToArray());
            writer.WriteFile(names[i]);
        }
        return names;
    }
}
