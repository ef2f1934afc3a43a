using System.CommandLine;
using System.Diagnostics;
using Tessera.Deploy;
using Tessera.Pool;
using Tessera.Pool.Client;

namespace Tessera.Cli.Commands;

/// <summary>
/// <c>tessera demo</c>: a whole pool on this machine in one command. It starts a coordinator (with its own agent) and
/// extra agents as child processes on 127.0.0.1, each with its data directory under the tessera home's demo/ folder,
/// deploys the default synthetic model split over them, prints the API address, a key and a sample request, and
/// serves until Ctrl+C, when it stops every child.
/// </summary>
internal static class DemoCommand
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    public static Command Create()
    {
        var agents = new Option<int>("--agents") { Description = "Agents besides the coordinator's own.", DefaultValueFactory = _ => 2 };
        var stages = new Option<int?>("--stages") { Description = "Stages to split the model over (default: one per node)." };
        var model = new Option<string?>("--model", "-m") { Description = "The model to deploy, in one file: " + ModelArgument.Forms + " (default: a small synthetic model made once)." };
        var replicas = new Option<int?>("--replicas") { Description = "Independent copies of the pipeline, on disjoint nodes (default 1); with --stages 1, one per node." };
        var activations = new Option<string?>("--activations") { Description = "Activations between stages: f16 (default), f32 or q8." };
        var command = new Command("demo", "Start a local pool (a coordinator and agents as child processes on 127.0.0.1), deploy a model split across them and serve it until Ctrl+C.");
        foreach (var option in new Option[] { agents, stages, model, activations, replicas })
            command.Options.Add(option);
        command.SetAction((result, invocationToken) => PoolCli.RunAsync(async () =>
        {
            using var stopping = PoolCli.OnStopSignal(invocationToken);
            var token = stopping.Token;
            var extra = Math.Max(0, result.GetValue(agents));
            var modelPath = Path.GetFullPath(await ModelArgument.ResolveAsync(result.GetValue(model), token).ConfigureAwait(false));
            var root = Path.Combine(DefaultModel.Home, "demo");
            // The demo pool is made afresh each run: ports change, and agents of an old run would dial the old one.
            if (Directory.Exists(root))
                Directory.Delete(root, recursive: true);
            Directory.CreateDirectory(Path.Combine(root, "logs"));
            var coordinatorDir = new PoolDataDirectory(Path.Combine(root, "coordinator"));
            var children = new List<ChildProcess>();
            try
            {
                Console.WriteLine($"Starting a coordinator and {extra} agent(s) on 127.0.0.1 (state and logs in {root}) ...");
                children.Add(ChildProcess.Start("coordinator", Path.Combine(root, "logs"), ["pool", "start", "--data-dir", coordinatorDir.Root, "--listen", "127.0.0.1:0", "--name", "demo-0", "--speed-probe-mb", "16"]));
                using var pool = await children[0].WaitForCoordinatorAsync(coordinatorDir, StartTimeout, token).ConfigureAwait(false);
                var joinToken = (await pool.CreateTokenAsync("1h", "demo agents", token, uses: Math.Max(1, extra)).ConfigureAwait(false)).Token;
                // The token reaches the agents in their environment: arguments are visible to every user in ps.
                var secret = new Dictionary<string, string> { [JoinCommand.TokenVariable] = joinToken };
                for (var i = 1; i <= extra; i++)
                    children.Add(ChildProcess.Start($"agent-{i}", Path.Combine(root, "logs"), ["join", "--name", $"demo-{i}", "--data-dir", Path.Combine(root, $"agent-{i}"), "--speed-probe-mb", "16"], secret));
                await WaitForNodesAsync(pool, extra + 1, children, token).ConfigureAwait(false);

                using var api = DeployClient.Create(coordinatorDir, null, null);
                var stageCount = result.GetValue(stages) ?? extra + 1;
                var created = await api.CreateAsync(new DeploymentRequest(modelPath, "demo", Replicas: result.GetValue(replicas), Context: 1024, MaxSessions: 4,
                    Activations: result.GetValue(activations), MinStages: stageCount), token).ConfigureAwait(false);
                DeployCommand.PrintPlan(created);
                var ready = await DeployCommand.WaitReadyAsync(api, created.Name, StartTimeout, token).ConfigureAwait(false);
                if (ready.State != DeploymentStates.Ready)
                    throw new PoolException($"The demo deployment failed: {ready.Error}. Logs are in {Path.Combine(root, "logs")}.");
                var key = await api.CreateApiKeyAsync("demo", token).ConfigureAwait(false);
                DeployCommand.PrintUsage(api, ready.Name, key.Key);
                Console.WriteLine();
                Console.WriteLine($"API key {key.Key}; admin key in {coordinatorDir.AdminKey}. Other commands: `tessera deployments --data-dir {coordinatorDir.Root}`.");
                Console.WriteLine($"Dashboard {api.BaseUrl}/dashboard (sign in with the admin key; `tessera top --data-dir {coordinatorDir.Root}` in a terminal).");
                Console.WriteLine("Serving until Ctrl+C.");
                try
                {
                    await Task.Delay(Timeout.Infinite, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
                Console.WriteLine("Stopping the demo pool ...");
                return 0;
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                Console.WriteLine("Stopping the demo pool ...");
                return 130;
            }
            finally
            {
                // Agents first, so the coordinator sees them leave; then the coordinator.
                for (var i = children.Count - 1; i >= 0; i--)
                    await children[i].StopAsync().ConfigureAwait(false);
            }
        }));
        return command;
    }

    private static async Task WaitForNodesAsync(PoolApiClient pool, int count, List<ChildProcess> children, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var nodes = await pool.GetNodesAsync(token).ConfigureAwait(false);
            var ready = nodes.Count(n => n.State == "ready" && n.Connected);
            if (ready >= count)
            {
                Console.WriteLine($"{ready} nodes ready: {string.Join(", ", nodes.Select(n => n.Name))}.");
                return;
            }
            if (children.FirstOrDefault(c => c.HasExited) is { } dead)
                throw new PoolException($"{dead.Name} exited early; see {dead.LogPath}.");
            if (clock.Elapsed > StartTimeout)
                throw new PoolException($"Only {ready} of {count} nodes became ready within {StartTimeout.TotalSeconds:0} s; logs are in {Path.GetDirectoryName(children[0].LogPath)}.");
            await Task.Delay(200, token).ConfigureAwait(false);
        }
    }
}
