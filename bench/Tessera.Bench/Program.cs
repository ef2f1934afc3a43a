if (args.Length > 0 && args[0] == "quick")
{
    Tessera.Bench.QuickBench.Run(args);
    return;
}

if (args.Length > 1 && args[0] == "profile")
{
    Tessera.Bench.ProfileBench.Run(args);
    return;
}

if (args.Length > 0 && args[0] == "relay")
{
    Tessera.Bench.RelayBench.Run(args);
    return;
}

if (args.Length > 0 && args[0] == "planner")
{
    Tessera.Bench.PlannerBench.Run(args);
    return;
}

if (args.Length > 0 && args[0] == "attention")
{
    Tessera.Bench.AttentionBench.Run(args);
    return;
}

if (args.Length > 0 && args[0] == "training")
{
    Tessera.Bench.TrainingBench.Run(args);
    return;
}

BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
