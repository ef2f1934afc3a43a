using System.Text.Json;
using System.Text.RegularExpressions;
using Tessera.Testing;
using Tessera.Tests.Pool;

namespace Tessera.Tests.Bench;

/// <summary><c>tessera batch run</c> against a real <c>tessera serve</c>: a file of bare request bodies in, every answer out, in order.</summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed partial class BatchRunProcessTests
{
    [Fact]
    public async Task BatchRun_AnswersEveryLine_IntoTheOutputFile()
    {
        var folder = Directory.CreateTempSubdirectory("tessera-batch-run-").FullName;
        try
        {
            using var serve = TesseraProcess.Start(["serve", "--model", TestPaths.Model("tiny-a-q8_0.gguf"), "--listen", "127.0.0.1:0", "--api-key", "tsk_batch-test",
                "--threads", "1", "--context", "256", "--batch-dir", Path.Combine(folder, "store")]);
            await serve.WaitForStdoutAsync("Serving", TimeSpan.FromSeconds(60));
            var url = ServingAt().Match(serve.Stdout).Groups[1].Value;

            var input = Path.Combine(folder, "prompts.jsonl");
            await File.WriteAllLinesAsync(input, Enumerable.Range(0, 6).Select(i =>
                JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = $"Question {i}" } }, max_tokens = 6, temperature = 0 })));
            var (code, _, stderr) = await TesseraProcess.RunAsync(["batch", "run", input, "--deployment", "tiny-a-q8_0", "--url", url, "--api-key", "tsk_batch-test"],
                TimeSpan.FromSeconds(120));
            Assert.True(code == 0, stderr + serve.Output);

            var answers = (await File.ReadAllLinesAsync(Path.Combine(folder, "prompts.output.jsonl"))).Select(l => JsonDocument.Parse(l).RootElement).ToList();
            Assert.Equal(Enumerable.Range(1, 6).Select(i => $"line-{i}"), answers.Select(a => a.GetProperty("custom_id").GetString()));
            Assert.All(answers, a => Assert.Equal(200, a.GetProperty("response").GetProperty("status_code").GetInt32()));
            Assert.Contains("6 answered", stderr);

            var (badCode, _, badErr) = await TesseraProcess.RunAsync(["batch", "run", Path.Combine(folder, "missing.jsonl"), "--url", url, "--api-key", "tsk_batch-test"],
                TimeSpan.FromSeconds(60));
            Assert.NotEqual(0, badCode);
            Assert.Contains("missing.jsonl", badErr);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [GeneratedRegex(@"at (http://\S+/v1)")]
    private static partial Regex ServingAt();
}
