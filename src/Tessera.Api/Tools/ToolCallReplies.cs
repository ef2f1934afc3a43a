using Tessera.Api.Protocol;
using Tessera.Generation;
using Tessera.Generation.Tools;

namespace Tessera.Api.Tools;

/// <summary>Tool calls in OpenAI's reply shapes: whole in a message, or in a stream's deltas.</summary>
internal static class ToolCallReplies
{
    /// <summary>"tool_calls" when the reply called tools, else the generation's own reason.</summary>
    public static string FinishReason(ToolCallOutput? output, FinishReason reason) =>
        output is { HasCalls: true } ? "tool_calls" : reason.ToApiString();

    /// <summary>The calls of a non-streamed message; null when there are none.</summary>
    public static IReadOnlyList<ToolCallOut>? Message(ToolCallOutput? output) =>
        output is { HasCalls: true } ? output.Calls.Select(c => new ToolCallOut(null, c.Id, "function", new FunctionCallOut(c.Name, c.Arguments))).ToList() : null;

    /// <summary>
    /// The deltas of a streamed reply's calls, as OpenAI streams them: per call, one delta with its index, id, type, name
    /// and empty arguments, then one with the arguments (OpenAI splits those further; clients concatenate them).
    /// </summary>
    public static IEnumerable<ChatDelta> Deltas(ToolCallOutput output)
    {
        for (var i = 0; i < output.Calls.Count; i++)
        {
            var call = output.Calls[i];
            yield return new ChatDelta(null, null) { ToolCalls = [new ToolCallOut(i, call.Id, "function", new FunctionCallOut(call.Name, ""))] };
            if (call.Arguments.Length > 0)
                yield return new ChatDelta(null, null) { ToolCalls = [new ToolCallOut(i, null, null, new FunctionCallOut(null, call.Arguments))] };
        }
    }
}
