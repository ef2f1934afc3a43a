using System.Net;
using Microsoft.Playwright;
using Tessera.Testing;
using Tessera.Tests.Deploy;
using Tessera.Tests.Pool;
using Xunit.Abstractions;

namespace Tessera.Tests.Dashboard;

/// <summary>
/// The dashboard in a real browser (Debian's chromium, headless, driven by Playwright; never a downloaded browser)
/// against a live pool of a coordinator and three agents as processes: sign-in refused with a wrong key and granted with
/// the admin key, every node listed, a deployment's stage map with its layer ranges, a killed agent shown down without
/// reloading, and a reply streamed into the chat box. Screenshots go to the test's output directory
/// (TESSERA_SCREENSHOTS, or a temporary folder named in the output).
/// </summary>
[Trait("Category", "Process")]
[Collection(ProcessCollection.Name)]
public sealed class DashboardBrowserTests(DeployPoolFixture pool, ITestOutputHelper output) : IClassFixture<DeployPoolFixture>
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SignIn_Nodes_StageMap_AKilledAgentGoingDown_AndAStreamedChatReply_InARealBrowser()
    {
        if (!File.Exists(Chromium))
        {
            output.WriteLine($"SKIPPED: no browser at {Chromium} (apt-get install chromium).");
            return;
        }
        var shots = Environment.GetEnvironmentVariable("TESSERA_SCREENSHOTS") is { Length: > 0 } dir ? dir : Directory.CreateTempSubdirectory("tessera-dashboard-").FullName;
        Directory.CreateDirectory(shots);
        output.WriteLine($"screenshots: {shots}");
        var deployment = await pool.DeployThreeStagesAsync(TestPaths.Model("tiny-a-q8_0.gguf"), "dash");
        var adminKey = (await File.ReadAllTextAsync(Path.Combine(pool.CoordinatorDir, "admin.key"))).Trim();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        // The coordinator's certificate is issued by the pool's own CA, which this browser does not trust (docs/dashboard.md says how a person's browser does).
        await using var context = await browser.NewContextAsync(new BrowserNewContextOptions { IgnoreHTTPSErrors = true, ViewportSize = new ViewportSize { Width = 1400, Height = 1100 } });
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout((float)Patience.TotalMilliseconds);

        // Anonymous: sent to the sign-in page; a wrong key is refused there with the reason.
        await page.GotoAsync(pool.ApiUrl + "/dashboard");
        Assert.EndsWith("/dashboard/login", page.Url);
        await page.FillAsync("#key", "tsa_not-the-key");
        var refused = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("#sign-in"), r => r.Url.EndsWith("/dashboard/login") && r.Request.Method == "POST");
        Assert.Equal((int)HttpStatusCode.Unauthorized, refused.Status);
        Assert.Contains("not the admin key", await page.TextContentAsync(".error"));
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "1-login-refused.png") });

        // The admin key signs in: a session cookie that scripts cannot read and other sites cannot send.
        await page.FillAsync("#key", adminKey);
        await page.ClickAsync("#sign-in");
        await page.WaitForURLAsync(pool.ApiUrl + "/dashboard");
        var cookie = Assert.Single(await context.CookiesAsync(), c => c.Name == "tessera_session");
        Assert.True(cookie.HttpOnly && cookie.Secure && cookie.SameSite == SameSiteAttribute.Strict, $"cookie flags: HttpOnly {cookie.HttpOnly}, Secure {cookie.Secure}, SameSite {cookie.SameSite}");

        // Every node, each ready.
        var nodes = await pool.Harness.NodesAsync();
        foreach (var node in nodes)
            await page.WaitForSelectorAsync($"#nodes tr[data-node='{node.Name}'][data-state='ready']");
        Assert.Equal(nodes.Count, await page.Locator("#nodes tbody tr").CountAsync());

        // The deployment's stage map: its three stages with the layer ranges the plan gave them.
        foreach (var stage in deployment.Stages)
            await page.WaitForSelectorAsync($"[data-deployment='dash'] .stage[data-layers='{stage.FirstLayer}-{stage.LastLayer}']");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "2-dashboard.png"), FullPage = true });

        // A join token made from the page: its join command shown, ready to copy, and the token listed.
        await page.FillAsync("#token-description", "from the browser");
        await page.ClickAsync("#token-form button[type=submit]");
        await page.WaitForSelectorAsync("#token-created:not([hidden])");
        Assert.StartsWith("tessera join tsr1_", await page.TextContentAsync("#join-command"));
        await page.WaitForSelectorAsync("#tokens td:text('from the browser')");

        // The chat box streams a reply from the deployment.
        await page.WaitForSelectorAsync("#chat-model option[value='dash']", new PageWaitForSelectorOptions { State = WaitForSelectorState.Attached });
        await page.SelectOptionAsync("#chat-model", "dash");
        await page.FillAsync("#chat-input", "Once upon a time");
        await page.ClickAsync("#chat-send");
        var reply = await page.WaitForSelectorAsync(".assistant[data-reply='done']");
        var text = await reply!.TextContentAsync();
        Assert.False(string.IsNullOrWhiteSpace(text), "the reply is empty");
        output.WriteLine($"chat reply: {text}");

        // A killed agent shows down (suspect first) without reloading the page.
        var victim = pool.Agents[^1];
        var victimName = nodes.Single(n => n.Name == "agent-c").Name;
        victim.Kill();
        await page.WaitForSelectorAsync($"#nodes tr[data-node='{victimName}']:is([data-state='suspect'], [data-state='down'])");
        await page.WaitForSelectorAsync($"#events li[data-kind]");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(shots, "3-agent-down.png"), FullPage = true });
        Assert.EndsWith("/dashboard", page.Url);
    }
}
