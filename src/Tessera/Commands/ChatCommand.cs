using System.CommandLine;
using System.Text;
using Spectre.Console;
using Tessera.Cli.Chat;
using Tessera.Engine.Templates;
using Tessera.Generation;
using Tessera.Jinja;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera chat</c>: an interactive chat in the terminal that streams the reply as it is generated.</summary>
internal static class ChatCommand
{
    public static Command Create()
    {
        var deployment = new Argument<string?>("DEPLOYMENT") { Description = "Model or deployment name at the endpoint (default: the first the endpoint lists).", Arity = ArgumentArity.ZeroOrOne };
        var url = new Option<string?>("--url") { Description = "OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1 (default: $TESSERA_API_URL)." };
        var key = new Option<string?>("--api-key") { Description = "API key (default: $TESSERA_API_KEY)." };
        var caCert = new Option<string?>("--cacert") { Description = "PEM certificate to trust for an https endpoint (a pool's ca.crt)." };
        var model = new Option<string?>("--model", "-m") { Description = "Chat in this process, instead of with an endpoint, with a model: " + ModelArgument.Forms + "." };
        var system = new Option<string?>("--system") { Description = "System message." };
        var maxTokens = new Option<int>("--max-tokens", "-n") { DefaultValueFactory = _ => 512 };
        var temperature = new Option<float>("--temperature") { DefaultValueFactory = _ => 0.7f };
        var topP = new Option<float>("--top-p") { DefaultValueFactory = _ => 0.95f };
        var seed = new Option<ulong?>("--seed");
        var threads = new Option<int>("--threads", "-t") { DefaultValueFactory = _ => 0 };
        var command = new Command("chat", "Chat in the terminal with a deployment (or a local GGUF with --model); replies stream as they are generated. /reset starts over, /exit leaves.")
        {
            deployment, url, key, caCert, model, system, maxTokens, temperature, topP, seed, threads,
        };
        command.SetAction((result, ct) => CliErrors.RunAsync(async () =>
        {
            using var backend = await OpenBackendAsync(result.GetValue(deployment), result.GetValue(url), result.GetValue(key),
                result.GetValue(caCert), result.GetValue(model), result.GetValue(threads), ct).ConfigureAwait(false);
            var settings = new ChatSettings(result.GetValue(maxTokens), result.GetValue(temperature), result.GetValue(topP), result.GetValue(seed));
            return await RunAsync(backend, result.GetValue(system), settings, Console.In, Console.Out, ct).ConfigureAwait(false);
        }));
        return command;
    }

    private static async Task<IChatBackend> OpenBackendAsync(string? deployment, string? url, string? key, string? caCert, string? modelFile, int threads, CancellationToken ct)
    {
        if (modelFile != null)
            return new LocalChatBackend(await ModelArgument.ResolveAsync(modelFile, ct).ConfigureAwait(false), threads, null);
        url ??= Environment.GetEnvironmentVariable("TESSERA_API_URL")
            ?? throw new ArgumentException("Give the endpoint with --url http://HOST:PORT/v1 (or set TESSERA_API_URL), or a local model with --model FILE.");
        key ??= Environment.GetEnvironmentVariable("TESSERA_API_KEY");
        var http = caCert == null ? new HttpClient() : new HttpClient(TrustingOnly(caCert), disposeHandler: true);
        if (deployment == null)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url.TrimEnd('/') + "/models");
            if (!string.IsNullOrEmpty(key))
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
            using var response = await http.SendAsync(request, ct).ConfigureAwait(false);
            response.EnsureSuccessStatusCode();
            using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false));
            var data = doc.RootElement.GetProperty("data");
            deployment = data.GetArrayLength() > 0 ? data[0].GetProperty("id").GetString()
                : throw new InvalidOperationException($"{url} serves no model yet; deploy one with `tessera deploy`.");
        }
        return new OpenAiChatBackend(http, url, deployment!, key);
    }

    /// <summary>An HTTP handler that accepts only server certificates chaining to the given CA (a pool's own CA).</summary>
    internal static SocketsHttpHandler TrustingOnly(string caPath)
    {
        var ca = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(File.ReadAllText(caPath));
        return new SocketsHttpHandler
        {
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is null)
                        return false;
                    using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
                    chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
                    return chain.Build(new System.Security.Cryptography.X509Certificates.X509Certificate2(certificate));
                },
            },
        };
    }

    /// <summary>The read-reply loop, over any reader and writer (tests drive it with strings).</summary>
    internal static async Task<int> RunAsync(IChatBackend backend, string? system, ChatSettings settings, TextReader input, TextWriter output, CancellationToken ct)
    {
        var messages = new List<ChatMessage>();
        void Reset()
        {
            messages.Clear();
            if (system != null)
                messages.Add(new ChatMessage("system", system));
        }
        Reset();
        await output.WriteLineAsync($"Chatting with {backend.Description}. /reset starts over, /exit leaves.").ConfigureAwait(false);
        while (!ct.IsCancellationRequested)
        {
            await output.WriteAsync("> ").ConfigureAwait(false);
            await output.FlushAsync(ct).ConfigureAwait(false);
            var line = await input.ReadLineAsync(ct).ConfigureAwait(false);
            if (line == null || line.Trim() is "/exit" or "/quit")
                break;
            if (line.Trim() == "/reset")
            {
                Reset();
                continue;
            }
            if (string.IsNullOrWhiteSpace(line))
                continue;

            messages.Add(new ChatMessage("user", line));
            var reply = new StringBuilder();
            try
            {
                await foreach (var piece in backend.ReplyAsync(messages, settings, ct).ConfigureAwait(false))
                {
                    reply.Append(piece);
                    await output.WriteAsync(piece).ConfigureAwait(false);
                    await output.FlushAsync(ct).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is InvalidOperationException or HttpRequestException or TemplateException)
            {
                messages.RemoveAt(messages.Count - 1);
                await output.WriteLineAsync().ConfigureAwait(false);
                AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }).MarkupLine("[red]error:[/] " + Markup.Escape(e.Message));
                continue;
            }
            await output.WriteLineAsync().ConfigureAwait(false);
            messages.Add(new ChatMessage("assistant", reply.ToString()));
        }
        return 0;
    }
}
