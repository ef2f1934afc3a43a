using System.Text;

namespace Tessera.Api.Streaming;

/// <summary>OpenAI's streaming format: one <c>data: JSON</c> line and a blank line per event, ending with <c>data: [DONE]</c>.</summary>
public static class ServerSentEvents
{
    public const string ContentType = "text/event-stream";

    private static readonly byte[] DataPrefix = "data: "u8.ToArray();
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();

    /// <summary>The final event.</summary>
    public static ReadOnlyMemory<byte> Done { get; } = "data: [DONE]\n\n"u8.ToArray();

    /// <summary>One event carrying <paramref name="json"/> (which holds no newline: System.Text.Json writes none unindented).</summary>
    public static byte[] Event(ReadOnlySpan<byte> json)
    {
        var bytes = new byte[DataPrefix.Length + json.Length + EventEnd.Length];
        DataPrefix.CopyTo(bytes, 0);
        json.CopyTo(bytes.AsSpan(DataPrefix.Length));
        EventEnd.CopyTo(bytes, DataPrefix.Length + json.Length);
        return bytes;
    }

    /// <summary>Splits a stream's text back into the data of its events (for tests and clients).</summary>
    public static IEnumerable<string> ParseData(string stream)
    {
        foreach (var block in stream.Replace("\r\n", "\n", StringComparison.Ordinal).Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var data = new StringBuilder();
            foreach (var line in block.Split('\n'))
            {
                if (line.StartsWith("data:", StringComparison.Ordinal))
                {
                    if (data.Length > 0)
                        data.Append('\n');
                    data.Append(line.AsSpan(line.StartsWith("data: ", StringComparison.Ordinal) ? 6 : 5));
                }
            }
            if (data.Length > 0)
                yield return data.ToString();
        }
    }
}
