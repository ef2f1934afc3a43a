using System.CommandLine;
using Spectre.Console;

namespace Tessera.Cli.Commands;

/// <summary><c>tessera token create|list|revoke</c>: join tokens of the pool.</summary>
internal static class TokenCommand
{
    public static Command Create()
    {
        var command = new Command("token", "Create, list and revoke join tokens.");
        command.Subcommands.Add(CreateCreate());
        command.Subcommands.Add(CreateList());
        command.Subcommands.Add(CreateRevoke());
        return command;
    }

    private static Command CreateCreate()
    {
        var ttl = new Option<string>("--ttl") { Description = "How long the token is valid: 90s, 30m, 24h, 7d (at most 30d).", DefaultValueFactory = _ => "24h" };
        var uses = new Option<int>("--uses") { Description = "How many machines may join with it (each join uses it once).", DefaultValueFactory = _ => 1 };
        var label = new Option<string[]>("--label") { Description = "A label (key=value) given to every node that joins with it; repeat for more.", AllowMultipleArgumentsPerToken = false };
        var description = new Option<string?>("--description") { Description = "A note shown by `token list`, e.g. which machine it is for." };
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the token." };
        var command = new Command("create", "Create a join token and print the command that joins a machine with it.");
        command.Options.Add(ttl);
        command.Options.Add(uses);
        command.Options.Add(label);
        command.Options.Add(description);
        command.Options.Add(quiet);
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            Tessera.Pool.Security.DurationParser.Parse(result.GetValue(ttl)!);
            var labels = Tessera.Pool.Security.Labels.Parse(result.GetValue(label) ?? []);
            using var api = client(result);
            var created = await api.CreateTokenAsync(result.GetValue(ttl)!, result.GetValue(description), ct, result.GetValue(uses), labels).ConfigureAwait(false);
            if (result.GetValue(quiet))
            {
                Console.WriteLine(created.Token);
                return 0;
            }
            var machines = created.MaxUses == 1 ? "one machine" : $"{created.MaxUses} machines";
            Console.WriteLine($"Token {created.Id} created for {machines}, valid until {created.ExpiresAt:u}. On the machine to add, run:");
            Console.WriteLine($"  {created.JoinCommand}");
            return 0;
        }));
        return command;
    }

    private static Command CreateList()
    {
        var output = PoolCli.OutputOption();
        var command = new Command("list", "List join tokens (their secrets are never shown again).");
        command.Options.Add(output);
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var tokens = await api.GetTokensAsync(ct).ConfigureAwait(false);
            if (result.GetValue(output) == "json")
            {
                PoolCli.WriteJson(tokens);
                return 0;
            }
            var table = new Table().AddColumns("ID", "Status", "Created", "Expires", "Uses", "Description");
            foreach (var t in tokens)
            {
                var status = t.Status switch { "valid" => "[green]valid[/]", "expired" => "[grey]expired[/]", "used" => "[grey]used[/]", _ => "[red]revoked[/]" };
                var used = t.MaxUses is { } max ? $"{t.Uses}/{max}" : t.Uses.ToString(System.Globalization.CultureInfo.InvariantCulture);
                table.AddRow(t.Id, status, $"{t.CreatedAt:u}", $"{t.ExpiresAt:u}", used, Markup.Escape(t.Description));
            }
            PoolCli.WriteTable(table);
            return 0;
        }));
        return command;
    }

    private static Command CreateRevoke()
    {
        var id = new Argument<string>("ID") { Description = "Token id (tok_...), as shown by `tessera token list`." };
        var command = new Command("revoke", "Revoke a join token: machines can no longer join with it (nodes that joined with it stay).");
        command.Arguments.Add(id);
        var client = PoolCli.AddClientOptions(command);
        command.SetAction((result, ct) => PoolCli.RunAsync(async () =>
        {
            using var api = client(result);
            var token = await api.RevokeTokenAsync(result.GetValue(id)!, ct).ConfigureAwait(false);
            Console.WriteLine($"Token {token.Id} revoked.");
            return 0;
        }));
        return command;
    }
}
