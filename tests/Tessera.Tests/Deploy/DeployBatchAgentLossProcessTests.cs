using System.Text.Json;
using Tessera.Testing;
using Tessera.Tests.Pool;
using Xunit.Abstractions;
using static Tessera.Tests.Deploy.DeployBatchRestartProcessTests;

namespace Tessera.Tests.Deploy;

/// <summary>
/// A batch over a three-stage deployment while the middle stage's agent is killed (-9): the pipeline is rebuilt on the
/// spare agent, the lines cut off run again, and every line is in the output once, with the failure-free text.
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class DeployBatchAgentLossProcessTests(SpareAgentPoolFixture pool, ITestOutputHelper output) : IClassFixture<SpareAgentPoolFixture>
{
    private const int Tokens = 24;
    private const int Lines = 24;
    private static readonly string[] Prompts = ["Once upon a time", "The little dog", "In the morning", "Far away"];

    [Fact]
    public async Task AgentKilledMidBatch_EveryLineOnce_WithTheFailureFreeText()
    {
        var model = TestPaths.Model("tiny-a-q8_0.gguf");
        var expected = await CompletionStreams.ReferencesAsync(model, Prompts, Tokens);
        var deployment = await pool.DeployThreeStagesAsync(model, "tiny-bl");
        var victim = pool.Agent(deployment.Stages[1].NodeName);

        using var http = pool.OpenAi();
        var id = await StartAsync(http, Enumerable.Range(0, Lines).Select(i => JsonSerializer.Serialize(new
        {
            custom_id = $"p{i}", method = "POST", url = "/v1/completions",
            body = new { model = "tiny-bl", prompt = Prompts[i % Prompts.Length], max_tokens = Tokens, temperature = 0 },
        })), "/v1/completions");
        var atKill = await PollAsync(http, id, b => b.GetProperty("request_counts").GetProperty("completed").GetInt32() >= 1, TimeSpan.FromSeconds(60), () => pool.Logs);
        victim.Kill();
        Assert.True(atKill.GetProperty("request_counts").GetProperty("completed").GetInt32() < Lines, "the batch was still running at the kill");

        var done = await PollAsync(http, id, b => b.GetProperty("status").GetString() == "completed", TimeSpan.FromSeconds(120), () => pool.Logs);
        output.WriteLine(done.ToString());
        Assert.True(victim.HasExited);
        Assert.Equal(Lines, done.GetProperty("request_counts").GetProperty("completed").GetInt32());
        var text = await http.GetStringAsync($"v1/files/{done.GetProperty("output_file_id").GetString()}/content");
        var answers = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(Enumerable.Range(0, Lines).Select(i => $"p{i}"), answers.Select(a => a.GetProperty("custom_id").GetString()));
        for (var i = 0; i < Lines; i++)
            Assert.Equal(expected[i % Prompts.Length], answers[i].GetProperty("response").GetProperty("body").GetProperty("choices")[0].GetProperty("text").GetString());
    }
}
