using System.CommandLine;
using Spectre.Console;
using Tessera.Pool.Client;
using Tessera.Pool.Security;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera key create|list|revoke</c>: keys of the pool's OpenAI-compatible API.</summary>
internal static class KeyCommands
{
    public static Command Create()
    {
        var command = new Command("key", "Create, list and revoke API keys for the OpenAI-compatible endpoint (/v1).");
        command.Subcommands.Add(CreateCreate());
        command.Subcommands.Add(CreateList());
        command.Subcommands.Add(CreateRevoke());
        return command;
    }

    private static Command CreateCreate()
    {
        var name = new Option<string?>("--name") { Description = "A note shown by `key list`, e.g. who or what uses the key." };
        var ttl = new Option<string?>("--ttl") { Description = "How long the key works: 90s, 30m, 24h, 30d. Default: until revoked." };
        var model = new Option<string?>("--model") { Description = "The one model (deployment name) the key may use. Default: every model." };
        var rate = new Option<int?>("--rate") { Description = "Requests a minute the key may make (it may burst up to this many). Default: no limit." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the key." };
        var command = new Command("create", "Create an API key and print it (it is shown only this once).");
        command.Options.Add(name);
        command.Options.Add(ttl);
        command.Options.Add(model);
        command.Options.Add(rate);
        command.Options.Add(quiet);
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            if (result.GetValue(ttl) is { } lifetime)
                DurationParser.Parse(lifetime); // a typo is reported here, before the coordinator is asked
            using var api = client(result);
            var created = await api.CreateApiKeyAsync(
                new CreateApiKeyRequest(result.GetValue(name), result.GetValue(ttl), result.GetValue(model), result.GetValue(rate)), ct).ConfigureAwait(false);
            if (result.GetValue(quiet))
            {
                Console.WriteLine(created.Key);
                return 0;
            }
            Console.WriteLine($"API key {created.Id} created" + (created.Name.Length > 0 ? $" ({created.Name})" : "")
                + (created.Model is { } m ? $" for model {m}" : "") + (created.RequestsPerMinute is { } r ? $", {r} requests a minute" : "")
                + (created.ExpiresAt is { } e ? $", valid until {e:u}" : "") + ". It is shown only now; store it safely:");
            Console.WriteLine($"  {created.Key}");
            Console.WriteLine($"Clients send it as 'Authorization: Bearer KEY' to {api.BaseUrl.TrimEnd('/')}/v1 (OPENAI_API_KEY for OpenAI's libraries).");
            return 0;
        }));
        return command;
    }

    private static Command CreateList()
    {
        var output = PoolCli.OutputOption();
        var command = new Command("list", "List API keys (the keys themselves are never shown again).");
        command.Options.Add(output);
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var keys = await api.GetApiKeysAsync(ct).ConfigureAwait(false);
            if (result.GetValue(output) == "json")
            {
                PoolCli.WriteJson(keys);
                return 0;
            }
            var table = new Table().AddColumns("ID", "Name", "Key", "Status", "Model", "Rate/min", "Created", "Expires", "Last used");
            foreach (var k in keys)
            {
                var status = k.Status == "active" ? "[green]active[/]" : $"[red]{Markup.Escape(k.Status)}[/]";
                table.AddRow(k.Id, Markup.Escape(k.Name), Markup.Escape(k.Hint), status, Markup.Escape(k.Model ?? "any"),
                    k.RequestsPerMinute?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "-", $"{k.CreatedAt:u}",
                    k.ExpiresAt is { } e ? $"{e:u}" : "never", PoolCli.Ago(k.LastUsedAt));
            }
            PoolCli.WriteTable(table);
            return 0;
        }));
        return command;
    }

    private static Command CreateRevoke()
    {
        var id = new Argument<string>("ID") { Description = "Key id (key_...), as shown by `tessera key list`." };
        var command = new Command("revoke", "Revoke an API key: requests with it are refused from now on.");
        command.Arguments.Add(id);
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var key = await api.RevokeApiKeyAsync(result.GetValue(id)!, ct).ConfigureAwait(false);
            Console.WriteLine($"API key {key.Id} revoked.");
            return 0;
        }));
        return command;
    }
}
