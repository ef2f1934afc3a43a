using Tessera.Cli.Commands.Chaos;

namespace Tessera.Tests.Chaos;

public sealed class FaultScheduleTests
{
    [Theory]
    [InlineData("kill", "kill")]
    [InlineData("slow, KILL,stop,kill", "kill,stop,slow")]
    [InlineData("all", "kill,stop,slow,cut")]
    [InlineData("cut,all", "kill,stop,slow,cut")]
    [InlineData("none", "")]
    public void Parse_TakesNamesInAnyCaseAndOrder_AndReturnsEachOnceInTheOptionsOrder(string text, string expected) =>
        Assert.Equal(expected, string.Join(',', ChaosFaults.Parse(text).Select(f => f.Name())));

    [Theory]
    [InlineData("kill,bogus", "Unknown fault 'bogus'")]
    [InlineData("none,kill", "Unknown fault 'none'")]
    [InlineData(" , ", "--faults is empty")]
    public void Parse_OfAnUnknownNameOrNothing_SaysWhichNamesExist(string text, string message)
    {
        var error = Assert.Throws<FormatException>(() => ChaosFaults.Parse(text));
        Assert.Contains(message, error.Message);
        if (!text.Contains("bogus", StringComparison.Ordinal) && !text.Contains("none", StringComparison.Ordinal))
            return;
        Assert.Contains("kill, stop, slow and cut", error.Message);
    }

    [Fact]
    public void Resolve_SkipsTheCutOfAllWithoutHostsOfTheirOwn_AndSaysWhy()
    {
        var (faults, skipped) = ChaosFaults.Resolve("all", namespaces: false, stages: 3);
        Assert.Equal("kill,stop,slow", string.Join(',', faults.Select(f => f.Name())));
        Assert.Contains("cut: needs --namespaces", Assert.Single(skipped));

        var (oneStage, why) = ChaosFaults.Resolve("all", namespaces: true, stages: 1);
        Assert.DoesNotContain(ChaosFault.Cut, oneStage);
        Assert.Contains("--stages 2 or more", Assert.Single(why));

        Assert.Equal((4, 0), (ChaosFaults.Resolve("all", namespaces: true, stages: 2).Faults.Count, ChaosFaults.Resolve("all", true, 2).Skipped.Count));
    }

    [Theory]
    [InlineData(false, 3, "--faults cut needs --namespaces")]
    [InlineData(true, 1, "--faults cut needs --stages 2 or more")]
    public void Resolve_OfACutNamedWhereItCannotRun_IsAnError(bool namespaces, int stages, string message) =>
        Assert.StartsWith(message, Assert.Throws<FormatException>(() => ChaosFaults.Resolve("stop,cut", namespaces, stages)).Message);

    [Fact]
    public void Plan_WithAsManySlotsAsKinds_InjectsEveryKindOnce_AndTheSameSeedGivesTheSamePlan()
    {
        var plan = FaultSchedule.Plan(ChaosFaults.All, 4, killCoordinator: false, seed: 7);

        Assert.Equal([1, 2, 3, 4], plan.Select(p => p.Slot));
        Assert.Equal(ChaosFaults.All.Order(), plan.Select(p => p.Kind).Order());
        Assert.Equal(plan, FaultSchedule.Plan(ChaosFaults.All, 4, killCoordinator: false, seed: 7));
        var orders = Enumerable.Range(0, 20).Select(seed => string.Join(",", FaultSchedule.Plan(ChaosFaults.All, 4, false, seed).Select(p => p.Kind))).Distinct().Count();
        Assert.True(orders > 1, "the seed shuffles the order of the kinds");
    }

    [Fact]
    public void Plan_DrawsEveryDurationAndDutyCycleFromItsBoundedRange_AndAKillIsAnInstant()
    {
        var plan = Enumerable.Range(0, 30).SelectMany(seed => FaultSchedule.Plan(ChaosFaults.All, 12, killCoordinator: false, seed)).ToList();

        static bool Within(TimeSpan t, (TimeSpan Min, TimeSpan Max) range) => t >= range.Min && t <= range.Max;
        Assert.All(plan.Where(p => p.Kind == ChaosFault.Stop), p => Assert.True(Within(p.Duration, FaultSchedule.StopFor), $"stop for {p.Duration}"));
        Assert.All(plan.Where(p => p.Kind == ChaosFault.Slow), p => Assert.True(Within(p.Duration, FaultSchedule.SlowFor), $"slow for {p.Duration}"));
        Assert.All(plan.Where(p => p.Kind == ChaosFault.Cut), p => Assert.True(Within(p.Duration, FaultSchedule.CutFor), $"cut for {p.Duration}"));
        Assert.All(plan.Where(p => p.Kind == ChaosFault.Slow), p => Assert.InRange(p.StoppedFraction, 0.5, 0.8));
        Assert.All(plan.Where(p => p.Kind != ChaosFault.Slow), p => Assert.Equal(0, p.StoppedFraction));
        Assert.All(plan.Where(p => p.Kind == ChaosFault.Kill), p => Assert.Equal(TimeSpan.Zero, p.Duration));
    }

    [Fact]
    public void Plan_KillsTheCoordinatorAtTheMiddleKill_AndOnlyWhenAsked()
    {
        var killsOnly = FaultSchedule.Plan([ChaosFault.Kill], 3, killCoordinator: true, seed: 1);
        Assert.Equal([false, true, false], killsOnly.Select(p => p.Coordinator));

        var mixed = FaultSchedule.Plan([ChaosFault.Kill, ChaosFault.Stop], 6, killCoordinator: true, seed: 3);
        var coordinator = Assert.Single(mixed, p => p.Coordinator);
        Assert.Equal(ChaosFault.Kill, coordinator.Kind);
        Assert.Equal(2, mixed.Where(p => p.Kind == ChaosFault.Kill).ToList().IndexOf(coordinator) + 1);

        Assert.DoesNotContain(FaultSchedule.Plan([ChaosFault.Kill], 3, killCoordinator: false, seed: 1), p => p.Coordinator);
        Assert.DoesNotContain(FaultSchedule.Plan([ChaosFault.Stop, ChaosFault.Slow], 4, killCoordinator: true, seed: 1), p => p.Coordinator);
    }

    [Fact]
    public void Plan_WithNoFaultsOrNoSlots_IsEmpty()
    {
        Assert.Empty(FaultSchedule.Plan([], 5, killCoordinator: true, seed: 1));
        Assert.Empty(FaultSchedule.Plan(ChaosFaults.All, 0, killCoordinator: true, seed: 1));
    }
}
