namespace Tessera.Generation.Tests;

public sealed class PrioritySlotsTests
{
    [Fact]
    public async Task AFreedSlot_GoesToTheInteractiveWaiter_BeforeEarlierBackgroundOnes()
    {
        var slots = new PrioritySlots(1);
        await slots.WaitAsync(background: true, default); // the one slot, held by a batch line
        var background1 = slots.WaitAsync(background: true, default);
        var background2 = slots.WaitAsync(background: true, default);
        var interactive = slots.WaitAsync(background: false, default);
        Assert.False(background1.IsCompleted || background2.IsCompleted || interactive.IsCompleted);

        slots.Release();
        await interactive.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(background1.IsCompleted);

        slots.Release();
        await background1.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(background2.IsCompleted);
        slots.Release();
        await background2.WaitAsync(TimeSpan.FromSeconds(5));
        slots.Release();
        Assert.Equal(1, slots.Free);
    }

    [Fact]
    public async Task ABackgroundRequest_DoesNotTakeAFreeSlotPastAWaitingInteractiveOne()
    {
        var slots = new PrioritySlots(2);
        await slots.WaitAsync(background: false, default);
        await slots.WaitAsync(background: false, default);
        var interactive = slots.WaitAsync(background: false, default);
        var background = slots.WaitAsync(background: true, default);
        slots.Release();
        await interactive.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(background.IsCompleted);
        Assert.Equal(0, slots.Free);
    }

    [Fact]
    public async Task ACancelledWaiter_LeavesTheLine_AndTheSlotGoesToTheNext()
    {
        var slots = new PrioritySlots(1);
        await slots.WaitAsync(background: false, default);
        using var cts = new CancellationTokenSource();
        var cancelled = slots.WaitAsync(background: false, cts.Token);
        var next = slots.WaitAsync(background: true, default);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        slots.Release();
        await next.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(0, slots.Free);
    }
}
