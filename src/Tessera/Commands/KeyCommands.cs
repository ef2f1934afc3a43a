using System.CommandLine;
using Spectre.Console;

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
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the key." };
        var command = new Command("create", "Create an API key and print it (it is shown only this once).");
        command.Options.Add(name);
        command.Options.Add(quiet);
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var created = await api.CreateApiKeyAsync(result.GetValue(name), ct).ConfigureAwait(false);
            if (result.GetValue(quiet))
            {
                Console.WriteLine(created.Key);
                return 0;
            }
            Console.WriteLine($"API key {created.Id} created" + (created.Name.Length > 0 ? $" ({created.Name})" : "") + ". It is shown only now; store it safely:");
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
            var table = new Table().AddColumns("ID", "Name", "Key", "Status", "Created", "Last used");
            foreach (var k in keys)
            {
                var status = k.Status == "active" ? "[green]active[/]" : "[red]revoked[/]";
                table.AddRow(k.Id, Markup.Escape(k.Name), Markup.Escape(k.Hint), status, $"{k.CreatedAt:u}", PoolCli.Ago(k.LastUsedAt));
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
