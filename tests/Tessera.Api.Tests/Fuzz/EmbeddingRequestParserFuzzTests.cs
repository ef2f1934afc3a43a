using System.Diagnostics;
using System.Net;
using Tessera.Api.Protocol;
using Tessera.Generation;
using Tessera.Testing;
using Xunit.Abstractions;

namespace Tessera.Api.Tests.Fuzz;

/// <summary>
/// Mutated /v1/embeddings bodies through the handler's reading and parsing: each gives a request that holds what the
/// services rely on, or an <see cref="OpenAiError"/> 400; any other exception would reach the client as a 500.
/// </summary>
public sealed class EmbeddingRequestParserFuzzTests(ITestOutputHelper output)
{
    public const int Seed = 19;

    private static readonly string[] Corpus =
    [
        """{"model":"fake","input":"The quick brown fox"}""",
        """{"model":"fake","input":["one","two","three"],"encoding_format":"float"}""",
        """{"model":"fake","input":[1,2,3],"encoding_format":"base64","dimensions":64}""",
        """{"model":"fake","input":[[1,2],[3,4,5]],"pooling":"last","user":"u"}""",
        """{"model":"fake","input":["x"],"pooling":"cls","dimensions":null,"encoding_format":null}""",
    ];

    private static readonly string[] Keys = ["model", "input", "encoding_format", "dimensions", "pooling", "user"];

    private static readonly string[] Values =
    [
        "\"\"", "\"float\"", "\"base64\"", "\"mean\"", "\"max\"", "[]", "[[]]", "[\"\"]", "[1,[2]]", "[[1],\"a\"]", "[-1]", "[[2147483648]]",
        "[" + string.Join(",", Enumerable.Repeat("\"a\"", 2049)) + "]",
        "[" + string.Join(",", Enumerable.Repeat("[1,2]", 3000)) + "]",
        "[" + string.Join(",", Enumerable.Repeat("7", 100_000)) + "]",
    ];

    private static readonly JsonMutator Mutator = new(Keys, Values);

    [Fact]
    public void MutatedBodies_AreParsedIntoValidRequests_OrRefusedWith400_NeverAnotherException()
    {
        var run = FuzzBudget.FromEnvironment(iterations: 3_000, TimeSpan.FromSeconds(8), Seed).Start();
        var (accepted, refused) = (0, 0);
        var fields = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (index, rng) in run.Inputs())
        {
            var mutations = new List<string>();
            var body = Mutator.Mutate(rng, Corpus[rng.Next(Corpus.Length)], mutations);
            var clock = Stopwatch.StartNew();
            string? problem;
            try
            {
                problem = Problem(Parse(body));
                accepted++;
            }
            catch (OpenAiError e)
            {
                refused++;
                if (e.Param is { } param)
                    fields.Add(param);
                problem = e.Status == HttpStatusCode.BadRequest && e.Type == "invalid_request_error" && !string.IsNullOrWhiteSpace(e.Message)
                    ? null
                    : $"refused with {(int)e.Status} {e.Type}: '{e.Message}'";
            }
            catch (Exception e)
            {
                problem = $"{e.GetType().Name}: {e.Message}";
            }
            if (clock.Elapsed > TimeSpan.FromSeconds(2))
                problem ??= $"took {clock.Elapsed}";
            if (problem is not null)
                run.Fail(index, $"{problem} [{string.Join("; ", mutations)}]");
        }
        run.AssertNoFailures(output, $"accepted {accepted}, refused {refused} naming {string.Join(", ", fields)}", minimum: 300);
        Assert.True(accepted > run.Tried / 20, $"only {accepted} of {run.Tried} bodies were accepted");
        Assert.True(fields.Count >= 4, "too few fields refused: " + string.Join(", ", fields));
    }

    /// <summary>Reads and parses as the handler does (a MemoryStream completes every read at once).</summary>
    private static EmbeddingRequestBody Parse(byte[] body) =>
        EmbeddingRequestParser.Parse(RequestParser.ReadBodyAsync(new MemoryStream(body), CancellationToken.None).GetAwaiter().GetResult());

    /// <summary>What a parsed request breaks of the services' expectations, or null.</summary>
    private static string? Problem(EmbeddingRequestBody request)
    {
        if (request.Model is null)
            return "no model";
        if ((request.Texts is null) == (request.Tokens is null))
            return "both or neither of texts and token ids";
        if (request.Count is < 1 or > EmbeddingRequest.MaxInputs)
            return $"{request.Count} inputs";
        if (request.Texts is { } texts && texts.Any(t => t.Length == 0))
            return "an empty text";
        if (request.Tokens is { } tokens && tokens.Any(t => t.Length == 0 || t.Any(id => id < 0)))
            return "an empty or negative token input";
        if (request.Dimensions is < 1)
            return $"dimensions {request.Dimensions}";
        if (request.Pooling is { } p && !Enum.IsDefined(p))
            return $"pooling {p}";
        return null;
    }
}
