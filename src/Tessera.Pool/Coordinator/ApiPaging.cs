using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;
using Tessera.Pool.Client;

namespace Tessera.Pool.Coordinator;

/// <summary>
/// How the admin API's lists are paged: <c>limit</c> read and bounded here, the page's items as the JSON array of the
/// body, and the next page as a <c>Link: &lt;URL&gt;; rel="next"</c> header whose URL is the request's own with the
/// cursor replaced, so a client follows it without knowing how each list's cursor is made.
/// </summary>
internal static class ApiPaging
{
    /// <summary>
    /// The page size asked for: <paramref name="fallback"/> when absent, at most <paramref name="max"/>. A limit that is
    /// not a whole number from 1 up is refused (the admin filter answers 400 with the message), not guessed at.
    /// </summary>
    public static int Limit(string? text, int fallback, int max)
    {
        if (string.IsNullOrEmpty(text))
            return fallback;
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var limit) || limit < 1)
            throw new PoolException($"limit={text} is not a page size: give a whole number from 1 to {max} (larger ones are served as {max}).", exitCode: 2);
        return Math.Min(limit, max);
    }

    /// <summary>An id cursor (after= or before= of the events): a whole number from 0 up.</summary>
    public static long? EventId(string? text, string name)
    {
        if (string.IsNullOrEmpty(text))
            return null;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            throw new PoolException($"{name}={text} is not an event id: give the id of the last event of the previous page (a whole number from 0 up).", exitCode: 2);
        return id;
    }

    /// <summary>Answers the page: its items as the body, and the Link header to the next page when there is one.</summary>
    public static IResult Respond<T>(HttpContext http, Page<T> page, string cursorParameter)
    {
        if (page.Next is not null)
            http.Response.Headers.Link = $"<{NextUrl(http.Request, cursorParameter, page.Next)}>; rel=\"next\"";
        return Results.Ok(page.Items);
    }

    /// <summary>The request's path and query with <paramref name="cursorParameter"/> set to <paramref name="cursor"/>.</summary>
    internal static string NextUrl(HttpRequest request, string cursorParameter, string cursor)
    {
        var query = request.Query
            .Where(p => !string.Equals(p.Key, cursorParameter, StringComparison.OrdinalIgnoreCase))
            .Select(p => new KeyValuePair<string, StringValues>(p.Key, p.Value))
            .Append(new KeyValuePair<string, StringValues>(cursorParameter, cursor));
        return request.PathBase.Add(request.Path).ToUriComponent() + QueryString.Create(query).ToUriComponent();
    }
}
