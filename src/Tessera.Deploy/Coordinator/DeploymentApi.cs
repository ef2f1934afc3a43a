using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Tessera.Distribution;
using Tessera.Identity;
using Tessera.Pool.Client;
using Tessera.Pool.Coordinator;

namespace Tessera.Deploy;

/// <summary>
/// The deployment endpoints on the coordinator's port: <c>/api/deployments</c> and <c>/api/plans</c> (admin key) and <c>/blobs</c>, the
/// coordinator's content store, for agents only (mutual TLS: a node certificate of the pool). The controller's
/// domain errors become HTTP statuses here, and only here.
/// </summary>
public static class DeploymentApi
{
    public static void Map(IEndpointRouteBuilder app, DeploymentController controller, CoordinatorContext pool)
    {
        var api = app.MapGroup("/api/deployments").WithTags("Deployments").RequireAdminKey(pool);
        api.MapGet("", () => controller.List()).WithSummary("The deployments, each with its stages (layers, node, device, health)");
        api.MapGet("/{name}", (string name) => controller.Find(name) is { } view ? Results.Ok(view) : NotFound(name))
            .WithSummary("One deployment, by name or id").Produces<DeploymentView>().Produces<ErrorView>(404);
        api.MapPost("", async (DeploymentRequest? request, CancellationToken cancellationToken) =>
        {
            if (request is null)
                return Results.BadRequest(new ErrorView("Send a JSON body: {\"model\": \"PATH or hf://owner/repo/file.gguf\", \"name\": ...}."));
            try
            {
                var view = await controller.CreateAsync(request, cancellationToken).ConfigureAwait(false);
                return Results.Created($"/api/deployments/{Uri.EscapeDataString(view.Name)}", view);
            }
            catch (DeploymentException ex)
            {
                return Error(ex);
            }
        }).WithSummary("Plan and deploy a model (a GGUF path or hf://owner/repo/file.gguf) across the pool").Produces<DeploymentView>(201).Produces<ErrorView>(400)
            .Produces<ErrorView>(409).Produces<ErrorView>(422);
        api.MapDelete("/{name}", async (string name) =>
        {
            try
            {
                return Results.Ok(await controller.DeleteAsync(name).ConfigureAwait(false));
            }
            catch (DeploymentException ex)
            {
                return Error(ex);
            }
        }).WithSummary("Undeploy: stop the deployment's stages and forget it").Produces<DeploymentView>().Produces<ErrorView>(404);

        // A dry run of POST /api/deployments: the same body (plus promptTokens and explain), the plan it would get, nothing started.
        app.MapGroup("/api/plans").WithTags("Deployments").RequireAdminKey(pool).MapPost("", async (JsonElement? body, CancellationToken cancellationToken) =>
        {
            if (body is not { ValueKind: JsonValueKind.Object } json)
                return Results.BadRequest(new ErrorView("Send a JSON object as for POST /api/deployments: {\"model\": \"PATH or hf://owner/repo/file.gguf\", ...}, with \"promptTokens\" and \"explain\" if you like."));
            try
            {
                var request = JsonSerializer.Deserialize<DeploymentRequest>(json, JsonSerializerOptions.Web)!;
                var query = JsonSerializer.Deserialize<PlanQuery>(json, JsonSerializerOptions.Web)!;
                return Results.Ok(await controller.PlanAsync(request, query.PromptTokens ?? PlanQuery.DefaultPromptTokens, query.Explain == true, cancellationToken).ConfigureAwait(false));
            }
            catch (JsonException ex)
            {
                return Results.BadRequest(new ErrorView($"The body is not a plan request: {ex.Message}"));
            }
            catch (DeploymentException ex)
            {
                return Error(ex);
            }
        }).WithSummary("Where the layers would go on the live pool and how fast, without deploying: the body of POST /api/deployments, plus promptTokens and explain")
            .Produces<PlanView>().Produces<ErrorView>(400).Produces<ErrorView>(422);

        if (controller.Links is { } links)
        {
            // Measures every link now and waits for the agents' reports; GET /api/links then lists them.
            app.MapGroup("/api/links").WithTags("Pool").RequireAdminKey(pool).MapPost("/measure", async (CancellationToken cancellationToken) =>
                Results.Ok(await links.RunRoundAsync(everything: true, cancellationToken).ConfigureAwait(false)))
                .WithSummary("Measure every link now and wait for the agents' reports; GET /api/links then lists them").Produces<LinkRoundSummary>();
        }
        // The links' latencies as the deployments' pipelines showed them, which plans use in place of the probe's RTT.
        app.MapGroup("/api/links").WithTags("Pool").RequireAdminKey(pool).MapGet("/observed", () => Results.Ok(controller.ObservedHopLatencies()))
            .WithSummary("The links' latencies as deployments' pipelines showed them (a decoded token's time on the link both ways, less the transfer), "
                + "which plans use in place of the probe's round trip").Produces<IReadOnlyList<ObservedHopView>>();

        app.MapContentStore(controller.Content).WithTags("Model store").AddEndpointFilter(async (context, next) =>
        {
            var certificate = context.HttpContext.Connection.ClientCertificate;
            // Membership, not only the CA's signature: a removed node's certificate is still signed, and refused here.
            if (certificate is null || pool.CheckMember(certificate).Error is not null)
                return Results.Json(new ErrorView("The model store is for the pool's current members: present the node certificate of a node that was not removed (mutual TLS)."), statusCode: 401);
            return await next(context).ConfigureAwait(false);
        });
    }

    /// <summary>The status each kind of mistake is answered with.</summary>
    public static int StatusOf(DeploymentErrorKind kind) => kind switch
    {
        DeploymentErrorKind.NotFound => StatusCodes.Status404NotFound,
        DeploymentErrorKind.Conflict => StatusCodes.Status409Conflict,
        DeploymentErrorKind.DoesNotFit => StatusCodes.Status422UnprocessableEntity,
        _ => StatusCodes.Status400BadRequest,
    };

    private static IResult Error(DeploymentException ex) => Results.Json(new ErrorView(ex.Message), statusCode: StatusOf(ex.Kind));

    private static IResult NotFound(string name) =>
        Results.NotFound(new ErrorView($"No deployment named '{name}'. List deployments with `tessera deployments`."));
}
