using Google.Protobuf;
using Grpc.Core;
using Tessera.Generation;
using Tessera.Serving;
using Tessera.Serving.Protocol;
using Tessera.Testing;
using Xunit.Abstractions;

namespace Tessera.Serving.Tests;

/// <summary>
/// A caller that breaks the stage protocol on purpose: each bound refuses it with a clear status on its own lane,
/// and the pipeline goes on giving honest sessions exactly the tokens it gave them before. Ends with a bounded,
/// seeded fuzzing pass of mutated valid messages.
/// </summary>
public sealed class HostileStageInputTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly ITestOutputHelper _output = output;
    private static readonly string Model = TestPaths.Model("tiny-a-q8_0.gguf");
    private const int MaxSessions = 4;
    private const int MaxLanes = 8;
    private const int Context = 512;
    private InProcessPipeline _pipeline = null!;
    private PipelineDriver _driver = null!;
    private int[] _expected = [];
    private int _width;
    private int _vocabulary;

    private static readonly PipelineRequest Honest = new([1, 450, 4996, 17354, 1701], SamplingParameters.Greedy, 8);

    public async Task InitializeAsync()
    {
        _pipeline = await InProcessPipeline.StartWithAsync(Model, ActivationFormat.F32,
            o => o with { MaxSessions = MaxSessions, MaxLanes = MaxLanes, ContextLength = Context }, "0-2", "2-4");
        _driver = await PipelineDriver.ConnectAsync(_pipeline.Endpoints);
        var config = _pipeline.Servers[1].Host.Stage.Config;
        (_width, _vocabulary) = (config.EmbeddingLength, config.VocabSize);
        _expected = await GenerateAsync();
    }

    public async Task DisposeAsync()
    {
        await _driver.DisposeAsync();
        await _pipeline.DisposeAsync();
    }

    private async Task<int[]> GenerateAsync()
    {
        var ids = new List<int>();
        await foreach (var t in _driver.GenerateAsync(Honest))
            ids.Add(t.Id);
        return [.. ids];
    }

    /// <summary>Sends <paramref name="messages"/> on a fresh lane to stage <paramref name="stage"/>; returns how the lane ended and what came back.</summary>
    private async Task<(StatusCode Status, string Detail, List<StageOutput> Outputs)> SendAsync(int stage, params StageInput[] messages)
    {
        using var channel = StageChannels.Create(_pipeline.Endpoints[stage], null);
        var client = new Stage.StageClient(channel);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var call = client.Run(cancellationToken: timeout.Token);
        var outputs = new List<StageOutput>();
        try
        {
            try
            {
                foreach (var m in messages)
                    await call.RequestStream.WriteAsync(m);
                await call.RequestStream.CompleteAsync();
            }
            catch (Exception e) when (e is RpcException or InvalidOperationException or IOException)
            {
                // The stage ended the lane while we were still writing: its answer is in the response stream.
            }
            await foreach (var o in call.ResponseStream.ReadAllAsync(timeout.Token))
                outputs.Add(o);
            return (StatusCode.OK, "", outputs);
        }
        catch (RpcException e)
        {
            return (e.StatusCode, e.Status.Detail, outputs);
        }
    }

    private static StageInput Open(ulong session) =>
        new() { Opens = { new SessionOpen { Session = session, MaxPositions = 64, Sampling = SamplingWire.ToWire(SamplingParameters.Greedy) } } };

    /// <summary>The first message of a lane to <paramref name="stage"/>: at the first stage it names the route on.</summary>
    private StageInput First(int stage, StageInput message)
    {
        if (stage == 0)
            message.Route.Add(_pipeline.Endpoints[1]);
        return message;
    }

    private StageInput Work(ulong session, int start, int[] tokens, int? rows = null)
    {
        var input = new StageInput { Format = ActivationFormat.F32 };
        input.Work.Add(new WorkEntry { Session = session, Start = start, Tokens = { tokens }, SampleStep = 0 });
        input.Activations = ByteString.CopyFrom(new byte[(rows ?? tokens.Length) * _width * sizeof(float)]);
        return input;
    }

    private async Task AssertPipelineUnharmedAsync() => Assert.Equal(_expected, await GenerateAsync());

    [Fact]
    public async Task ActivationsThatDoNotMatchTheirPositions_AreRefusedBeforeAllocation()
    {
        var (status, detail, _) = await SendAsync(1, Open(1), Work(1, 0, [1, 2, 3], rows: 1));
        Assert.Equal(StatusCode.InvalidArgument, status);
        Assert.Contains("activations", detail);
        await AssertPipelineUnharmedAsync();
    }

    [Fact]
    public async Task TokenIdsOutsideTheVocabulary_AreRefusedAtEveryStage()
    {
        // At the last stage ids index the repetition penalties: an unchecked one would take the compute thread down.
        foreach (var stage in new[] { 0, 1 })
        {
            var message = Work(7, 0, [_vocabulary + 5]);
            if (stage == 0)
                message.Activations = ByteString.Empty;
            var (status, detail, _) = await SendAsync(stage, First(stage, Open(7)), message);
            Assert.Equal(StatusCode.InvalidArgument, status);
            Assert.Contains("outside the vocabulary", detail);
        }
        await AssertPipelineUnharmedAsync();
    }

    [Fact]
    public async Task AnUnknownPooling_EndsTheLane_AndAnEmbeddingRewoundMidPrompt_FailsOnlyItsSession()
    {
        var open = Open(3);
        open.Opens[0].Pooling = 9;
        var (status, detail, _) = await SendAsync(1, open, Work(3, 0, [1, 2]));
        Assert.Equal(StatusCode.InvalidArgument, status);
        Assert.Contains("pooling", detail);

        var embedding = Open(4);
        embedding.Opens[0].Pooling = 1;
        var prefix = Work(4, 0, [1, 2, 3, 4]);
        prefix.Work[0].SampleStep = -1;
        using var channel = StageChannels.Create(_pipeline.Endpoints[1], null);
        using var call = new Stage.StageClient(channel).Run();
        foreach (var m in new[] { embedding, prefix, Work(4, 2, [5]) })
            await call.RequestStream.WriteAsync(m);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var failure = Assert.Single(call.ResponseStream.Current.Failures);
        Assert.Contains("pooled", failure.Message);
        Assert.Empty(call.ResponseStream.Current.Tokens);
        await call.RequestStream.CompleteAsync();
        await AssertPipelineUnharmedAsync();
    }

    [Fact]
    public async Task PositionsOutsideTheContext_AndEmptyWork_AreRefused()
    {
        Assert.Equal(StatusCode.InvalidArgument, (await SendAsync(1, Open(2), Work(2, Context - 1, [1, 2]))).Status);
        Assert.Equal(StatusCode.InvalidArgument, (await SendAsync(1, Open(2), Work(2, -5, [1]))).Status);
        Assert.Equal(StatusCode.InvalidArgument, (await SendAsync(1, Open(2), Work(2, 0, [], rows: 0))).Status);
        await AssertPipelineUnharmedAsync();
    }

    [Fact]
    public async Task SessionsBeyondTheLimit_FailOneByOne_AndTooManyInOneMessage_EndTheLane()
    {
        var opens = Enumerable.Range(100, MaxSessions + 1).Select(i => Open((ulong)i)).ToArray();
        using var channel = StageChannels.Create(_pipeline.Endpoints[1], null);
        using var call = new Stage.StageClient(channel).Run();
        foreach (var open in opens)
            await call.RequestStream.WriteAsync(open);
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var failure = Assert.Single(call.ResponseStream.Current.Failures);
        Assert.Equal((ulong)(100 + MaxSessions), failure.Session);
        Assert.Contains("limit", failure.Message);
        Assert.Equal(MaxSessions, _pipeline.Servers[1].Host.LiveSessions);
        await call.RequestStream.CompleteAsync();
        await _pipeline.WaitForNoSessionsAsync(TimeSpan.FromSeconds(5));

        var many = new StageInput();
        for (var i = 0; i <= MaxSessions; i++)
            many.Opens.Add(new SessionOpen { Session = (ulong)i });
        var (status, detail, _) = await SendAsync(1, many);
        Assert.Equal(StatusCode.InvalidArgument, status);
        Assert.Contains($"at most {MaxSessions}", detail);
        await AssertPipelineUnharmedAsync();
    }

    [Fact]
    public async Task LanesBeyondTheLimit_AreRefused_AndRoutesOfAbsurdLength()
    {
        var channels = new List<Grpc.Net.Client.GrpcChannel>();
        var calls = new List<AsyncDuplexStreamingCall<StageInput, StageOutput>>();
        try
        {
            // The driver holds lanes of its own: fill the rest. A lane opened past the limit may be refused while its first
            // message is still being written (the stage answers at once): that is the refusal this test looks for.
            StatusCode? refusedWhileFilling = null;
            for (var i = 0; i < MaxLanes && refusedWhileFilling is null; i++)
            {
                var channel = StageChannels.Create(_pipeline.Endpoints[1], null);
                channels.Add(channel);
                var call = new Stage.StageClient(channel).Run();
                calls.Add(call);
                try
                {
                    await call.RequestStream.WriteAsync(new StageInput());
                }
                catch (RpcException e) when (e.StatusCode == StatusCode.ResourceExhausted)
                {
                    refusedWhileFilling = e.StatusCode;
                }
            }
            // Lanes register when their stream reaches the stage: wait until the stage holds them all.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (_pipeline.Servers[1].Host.Status().Lanes < MaxLanes && DateTime.UtcNow < deadline)
                await Task.Delay(20);
            Assert.Equal(MaxLanes, _pipeline.Servers[1].Host.Status().Lanes);
            var refused = await SendAsync(1, new StageInput());
            Assert.Equal(StatusCode.ResourceExhausted, refused.Status);
        }
        finally
        {
            foreach (var call in calls)
                call.Dispose();
            foreach (var channel in channels)
                channel.Dispose();
        }

        var route = new StageInput();
        route.Route.AddRange(Enumerable.Range(0, 100).Select(i => $"127.0.0.1:{1000 + i}"));
        var (status, detail, _) = await SendAsync(0, route);
        Assert.Equal(StatusCode.InvalidArgument, status);
        Assert.Contains("route", detail);
        await WaitForLanesAsync(1);
        await AssertPipelineUnharmedAsync();
    }

    private async Task WaitForLanesAsync(int stage)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_pipeline.Servers[stage].Host.Status().Lanes >= MaxLanes && DateTime.UtcNow < deadline)
            await Task.Delay(20);
    }

    /// <summary>
    /// Mutations of valid lanes (field values replaced by extremes, bytes of the encoded message flipped, truncated or
    /// repeated): every lane ends with a status the protocol defines, never Unknown or Internal (an exception the
    /// stage did not expect), and the honest session's tokens are the same at the end. Seeded and bounded in count and
    /// time (<see cref="FuzzBudget"/>: TESSERA_FUZZ_ITERATIONS, TESSERA_FUZZ_SECONDS and TESSERA_FUZZ_SEED for a longer campaign).
    /// </summary>
    [Fact]
    public async Task Fuzz_MutatedStageMessages_EndTheirLaneCleanly_AndHarmNoOne()
    {
        var run = FuzzBudget.FromEnvironment(iterations: 300, TimeSpan.FromSeconds(20), seed: 15).Start();
        var statuses = new Dictionary<StatusCode, int>();
        foreach (var (index, random) in run.Inputs())
        {
            var stage = random.Next(2);
            var messages = new[] { First(stage, Open(1)), Work(1, 0, [1, 450, 4996]), new StageInput { Closes = { 1 } } };
            if (stage == 0)
                messages[1].Activations = ByteString.Empty;
            var victim = random.Next(messages.Length);
            messages[victim] = Mutate(messages[victim], random);
            var (status, detail, _) = await SendAsync(stage, messages);
            if (status is not (StatusCode.OK or StatusCode.InvalidArgument or StatusCode.ResourceExhausted or StatusCode.FailedPrecondition or StatusCode.Unavailable))
                run.Fail(index, $"stage {stage} ended a lane with {status}: {detail}; messages: {string.Join(" | ", messages.Select(m => Truncate(m.ToString())))}");
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
        }
        run.AssertNoFailures(_output, "statuses " + string.Join(", ", statuses.Select(p => $"{p.Key}: {p.Value}")), minimum: 50);
        await _pipeline.WaitForNoSessionsAsync(TimeSpan.FromSeconds(10));
        await AssertPipelineUnharmedAsync();
    }

    private StageInput Mutate(StageInput message, Random random)
    {
        switch (random.Next(6))
        {
            case 0:
            {
                // Flip bytes of the encoding; a message that no longer parses is replaced by an empty one.
                var bytes = message.ToByteArray();
                for (var i = 0; i < 1 + random.Next(4) && bytes.Length > 0; i++)
                    bytes[random.Next(bytes.Length)] ^= (byte)(1 << random.Next(8));
                return TryParse(bytes);
            }
            case 1:
            {
                var bytes = message.ToByteArray();
                return TryParse(bytes.AsSpan(0, random.Next(bytes.Length + 1)).ToArray());
            }
            case 2:
                foreach (var w in message.Work)
                {
                    w.Start = Pick(random, [-1, int.MaxValue, int.MinValue, Context, Context - 1]);
                    w.SampleStep = Pick(random, [long.MinValue, long.MaxValue, -1L, 0L]);
                }
                return message;
            case 3:
                foreach (var w in message.Work)
                {
                    for (var i = 0; i < w.Tokens.Count; i++)
                        w.Tokens[i] = Pick(random, [-1, int.MaxValue, _vocabulary, _vocabulary - 1, 0]);
                }
                return message;
            case 4:
                foreach (var o in message.Opens)
                {
                    o.MaxPositions = Pick(random, [-1, 0, int.MaxValue, 1]);
                    o.TopLogprobs = Pick(random, [-5, 0, 1000, int.MaxValue]);
                    o.MaxTokens = Pick(random, [-1, 0, int.MaxValue]);
                    o.Sampling = new Sampling { Temperature = Pick(random, [float.NaN, -1f, float.PositiveInfinity, 0f]), TopK = Pick(random, [-1, int.MaxValue]), TopP = Pick(random, [float.NaN, 2f, -1f]) };
                    o.FeedBack = random.Next(2) == 0;
                }
                return message;
            default:
                message.Format = (ActivationFormat)Pick(random, [0, 1, 2, 7, -1]);
                message.Activations = ByteString.CopyFrom(new byte[random.Next(64)]);
                return message;
        }
    }

    private static string Truncate(string text) => text.Length > 300 ? text[..300] + "..." : text;

    private static T Pick<T>(Random random, T[] values) => values[random.Next(values.Length)];

    private static StageInput TryParse(byte[] bytes)
    {
        try
        {
            return StageInput.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException)
        {
            return new StageInput();
        }
    }
}
