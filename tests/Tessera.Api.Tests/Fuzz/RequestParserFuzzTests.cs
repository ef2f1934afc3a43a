using System.Diagnostics;
using System.Net;
using Tessera.Api.Protocol;
using Tessera.Generation;
using Tessera.Testing;
using Xunit.Abstractions;

namespace Tessera.Api.Tests.Fuzz;

/// <summary>
/// Mutated request bodies through the same reading and parsing the handler does: each must give a valid request or
/// an <see cref="OpenAiError"/> that the handler answers as a 400; any other exception would reach the client as a
/// 500. Bounded by a count and a time cap (<see cref="FuzzBudget"/>); the seed is fixed so a failure reproduces.
/// </summary>
public sealed class RequestParserFuzzTests(ITestOutputHelper output)
{
    public const int Seed = 15;

    private static readonly SamplingParameters Defaults = new OpenAiApiOptions().DefaultSampling;

    private static readonly HashSet<string> Roles = new(StringComparer.Ordinal) { "system", "user", "assistant", "tool", "function" };

    // Guards against a parser that amplifies: reading a body costs a few copies of it (the document, its clone, the
    // strings), so a multiple of its length plus a floor; a hostile body that costs far more would show here.
    private const int MaxAllocationPerBodyByte = 40;
    private const long AllocationFloor = 1 << 20;

    // A hang guard, not a speed target: an input takes well under a millisecond, but CI machines are shared.
    private static readonly TimeSpan MaxTimePerInput = TimeSpan.FromSeconds(2);

    private sealed class Tally
    {
        public int Accepted;
        public int RefusedReading;
        public int RefusedParsing;
        public long MaxAllocated;
        public int MaxAllocatedBody;

        /// <summary>Over bodies of 4 KiB or more, where the floor does not hide the ratio.</summary>
        public double MaxAllocationPerByte;
        public readonly HashSet<string> Params = new(StringComparer.Ordinal);
    }

    [Fact]
    public void MutatedBodies_AreParsedIntoValidRequests_OrRefusedWith400_NeverAnotherException()
    {
        var run = FuzzBudget.FromEnvironment(iterations: 5_000, TimeSpan.FromSeconds(10), Seed).Start();
        var tally = new Tally();
        foreach (var (index, rng) in run.Inputs())
        {
            var input = RequestFuzzer.Make(index, rng);
            if (Check(input, tally) is { } failure)
                run.Fail(index, $"{failure}\n    input {input.Preview()}");
        }

        run.AssertNoFailures(output, $"accepted {tally.Accepted}, refused by the JSON reader {tally.RefusedReading}, " +
            $"refused by the parser {tally.RefusedParsing} naming {tally.Params.Count} fields; most allocated {tally.MaxAllocated / 1024} KiB " +
            $"(for a body of {tally.MaxAllocatedBody / 1024} KiB), at most {tally.MaxAllocationPerByte:F1} bytes per byte of a body of 4 KiB or more", minimum: 500);
        // The fuzzer must reach every outcome, or it tests less than it claims.
        var tried = run.Tried;
        Assert.True(tally.Accepted > tried / 20, $"only {tally.Accepted} of {tried} mutated bodies were accepted");
        Assert.True(tally.RefusedReading > tried / 20, $"only {tally.RefusedReading} of {tried} mutated bodies were malformed JSON");
        Assert.True(tally.RefusedParsing > tried / 5, $"only {tally.RefusedParsing} of {tried} mutated bodies reached a field check");
        Assert.True(tally.Params.Count >= Math.Min(15, tried / 50), "too few fields refused: " + string.Join(", ", tally.Params));
    }

    /// <summary>Reads and parses one body as the handler does; returns what went wrong, or null.</summary>
    private static string? Check(FuzzInput input, Tally tally)
    {
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        ParsedRequest? request = null;
        OpenAiError? refusal = null;
        var reading = true;
        try
        {
            // A MemoryStream completes every read at once, so this runs on this thread and its allocations are counted.
            var body = RequestParser.ReadBodyAsync(new MemoryStream(input.Body), CancellationToken.None).GetAwaiter().GetResult();
            reading = false;
            request = input.Endpoint == Endpoint.Chat ? RequestParser.ParseChat(body, Defaults) : RequestParser.ParseCompletion(body, Defaults);
        }
        catch (OpenAiError e)
        {
            refusal = e;
        }
        catch (Exception e)
        {
            return $"{e.GetType().Name} while {(reading ? "reading" : "parsing")}: {e.Message}";
        }
        clock.Stop();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        if (allocated > tally.MaxAllocated)
            (tally.MaxAllocated, tally.MaxAllocatedBody) = (allocated, input.Body.Length);
        if (input.Body.Length >= 4096)
            tally.MaxAllocationPerByte = Math.Max(tally.MaxAllocationPerByte, (double)allocated / input.Body.Length);
        if (allocated > AllocationFloor + (long)MaxAllocationPerBodyByte * input.Body.Length)
            return $"allocated {allocated} bytes for a body of {input.Body.Length}";
        if (clock.Elapsed > MaxTimePerInput)
            return $"took {clock.Elapsed}";

        if (refusal is not null)
        {
            if (reading)
                tally.RefusedReading++;
            else
                tally.RefusedParsing++;
            if (refusal.Param is { } param)
                tally.Params.Add(param.Length > 40 ? param[..40] : param);
            return RefusalProblem(refusal, input);
        }
        tally.Accepted++;
        return RequestProblem(request!, input.Endpoint);
    }

    private static string? RefusalProblem(OpenAiError error, FuzzInput input)
    {
        if (error.Status != HttpStatusCode.BadRequest || error.Type != "invalid_request_error")
            return $"refused with {(int)error.Status} {error.Type}, not 400 invalid_request_error: {error.Message}";
        if (string.IsNullOrWhiteSpace(error.Message) || error.Message.Contains("   at ", StringComparison.Ordinal))
            return $"refused without a message a user can act on: '{error.Message}'";
        // A message may quote the body's values, never more than the body holds.
        if (error.Message.Length > input.Body.Length + 1024)
            return $"a message of {error.Message.Length} characters for a body of {input.Body.Length} bytes";
        return null;
    }

    /// <summary>What the handler and the generation rely on in a parsed request.</summary>
    private static string? RequestProblem(ParsedRequest r, Endpoint endpoint)
    {
        if (string.IsNullOrWhiteSpace(r.Model))
            return "accepted without a model";
        var s = r.Sampling;
        try
        {
            s.Validate();
        }
        catch (ArgumentException e)
        {
            return "accepted sampling parameters that do not validate: " + e.Message;
        }
        if (!float.IsFinite(s.Temperature) || !float.IsFinite(s.TopP) || !float.IsFinite(s.MinP) || !float.IsFinite(s.RepetitionPenalty)
            || !float.IsFinite(s.PresencePenalty) || !float.IsFinite(s.FrequencyPenalty))
            return $"accepted a sampling value that is not finite: {s}";
        if (r.Stop.Count > RequestParser.MaxStopSequences || r.Stop.Any(t => t.Length is 0 or > RequestParser.MaxStopLength))
            return $"accepted stop sequences outside the bounds: {r.Stop.Count}, lengths {string.Join(",", r.Stop.Select(t => t.Length))}";
        if (r.MaxTokens is < 1)
            return $"accepted max_tokens {r.MaxTokens}";
        if (endpoint == Endpoint.Chat)
        {
            if (r.Messages is not { Count: > 0 and <= RequestParser.MaxMessages } messages)
                return $"accepted {r.Messages?.Count} messages";
            if (messages.FirstOrDefault(m => !Roles.Contains(m.Role) || m.Content is null) is { } bad)
                return $"accepted a message with role '{bad.Role}' and content {(bad.Content is null ? "null" : "text")}";
            if (r.TopLogProbs is < 0 or > RequestParser.MaxChatTopLogProbs)
                return $"accepted top_logprobs {r.TopLogProbs}";
            if (r.Tools is { } tools && (tools.Tools.Count is 0 or > RequestParser.MaxTools || tools.Tools.DistinctBy(t => t.Name).Count() != tools.Tools.Count
                || (tools.Choice.FunctionName is { } forced && tools.Tools.All(t => t.Name != forced))))
                return $"accepted tools that are empty, too many, named twice, or a tool_choice naming none of them: {tools}";
            if (messages.FirstOrDefault(m => (m.Role == "tool") != (m.ToolCallId is not null) || (m.ToolCalls is not null && m.Role != "assistant")) is { } stray)
                return $"accepted a '{stray.Role}' message with tool fields it may not have";
        }
        else
        {
            if ((r.Prompt is null) == (r.PromptTokens is null))
                return "accepted a completion with no prompt, or with both forms";
            if (r.PromptTokens is { } tokens && (tokens.Length == 0 || tokens.Any(t => t < 0)))
                return "accepted prompt token ids that are empty or negative";
            if (r.TopLogProbs is < 0 or > RequestParser.MaxCompletionLogProbs)
                return $"accepted logprobs {r.TopLogProbs}";
        }
        return null;
    }
}
