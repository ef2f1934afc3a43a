using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Http;
using Tessera.Generation;

namespace Tessera.Api;

/// <summary>
/// The OpenAI API's instruments (meter <see cref="MeterName"/>), measured where clients see them: requests answered by
/// deployment, endpoint and status; prompt and generated tokens; time to first token from the request's arrival
/// (queueing and the prompt included) and the time between tokens after it. A host exports them (the CLI's
/// <c>/metrics</c>); without a listener they cost next to nothing.
/// </summary>
/// <remarks>
/// Labels stay bounded whatever clients send: the deployment is named only once the request's model was found (a
/// request for a model this server does not have counts under an empty deployment), the endpoint is one of three and the
/// status one of the few codes the API answers with.
/// </remarks>
internal static class ApiMetrics
{
    public const string MeterName = "Tessera.Api";

    /// <summary>The status counted for a request whose client left before an answer was sent (nginx's "client closed request").</summary>
    public const int ClientClosed = 499;

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> Requests = Meter.CreateCounter<long>("tessera.requests", "{request}",
        "Generation requests answered (chat, completions, embeddings), by deployment, endpoint and HTTP status");

    private static readonly Counter<long> PromptTokens = Meter.CreateCounter<long>("tessera.prompt_tokens", "{token}",
        "Prompt tokens of the requests admitted to generation (embedding inputs included)");

    private static readonly Counter<long> GeneratedTokens = Meter.CreateCounter<long>("tessera.generated_tokens", "{token}",
        "Tokens generated for clients (the completion_tokens of their usage)");

    private static readonly Histogram<double> FirstToken = Meter.CreateHistogram("tessera.time_to_first_token", "s",
        "From a request's arrival to its first generated token (interactive requests; batch lines wait behind them by design)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80] });

    private static readonly Histogram<double> PerToken = Meter.CreateHistogram("tessera.time_per_output_token", "s",
        "Time between two generated tokens of a request, as the client receives them (interactive requests)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5, 5, 10] });

    /// <summary>The endpoints counted, as the <c>endpoint</c> label names them.</summary>
    public static class Endpoints
    {
        public const string Chat = "chat";
        public const string Completions = "completions";
        public const string Embeddings = "embeddings";
    }

    /// <summary>One request's measurements: started when it arrives, counted once when it has been answered.</summary>
    public sealed class RequestMeter(string endpoint)
    {
        private readonly long _arrived = Stopwatch.GetTimestamp();

        /// <summary>The deployment (model id) the request uses, once it was found; empty until then.</summary>
        public string Deployment { get; set; } = string.Empty;

        /// <summary>Counts the request with the status it was answered with (<see cref="ClientClosed"/> when its client left first).</summary>
        public void Answered(HttpContext http)
        {
            var status = http.RequestAborted.IsCancellationRequested && !http.Response.HasStarted ? ClientClosed : http.Response.StatusCode;
            Requests.Add(1, new KeyValuePair<string, object?>("deployment", Deployment), new KeyValuePair<string, object?>("endpoint", endpoint),
                new KeyValuePair<string, object?>("status", status));
        }

        /// <summary>Counts <paramref name="tokens"/> prompt tokens admitted to generation.</summary>
        public void Prompt(long tokens) => PromptTokens.Add(tokens, new KeyValuePair<string, object?>("deployment", Deployment));

        /// <summary>
        /// <paramref name="tokens"/> with each token counted as it arrives, and timed unless <paramref name="background"/>
        /// (a batch line): the first from the request's arrival, every later one from the token before it.
        /// </summary>
        public IAsyncEnumerator<GeneratedToken> Time(IAsyncEnumerator<GeneratedToken> tokens, bool background) =>
            new TimedTokens(tokens, this, background);

        private sealed class TimedTokens(IAsyncEnumerator<GeneratedToken> inner, RequestMeter meter, bool background) : IAsyncEnumerator<GeneratedToken>
        {
            private long _last;

            public GeneratedToken Current => inner.Current;

            public async ValueTask<bool> MoveNextAsync()
            {
                if (!await inner.MoveNextAsync().ConfigureAwait(false))
                    return false;
                var now = Stopwatch.GetTimestamp();
                var deployment = new KeyValuePair<string, object?>("deployment", meter.Deployment);
                GeneratedTokens.Add(1, deployment);
                if (!background)
                    (_last == 0 ? FirstToken : PerToken).Record(Stopwatch.GetElapsedTime(_last == 0 ? meter._arrived : _last, now).TotalSeconds, deployment);
                _last = now;
                return true;
            }

            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }
}
