namespace Tessera.Pool.Client;

/// <summary>
/// One page of a list of the admin API: its items, and the cursor that asks for the next page (null on the last). On
/// the wire the items are the JSON array of the body and the next page is the <c>Link: &lt;URL&gt;; rel="next"</c>
/// header, so a client that reads the body as an array still works; it just sees the first page.
/// </summary>
public sealed record Page<T>(IReadOnlyList<T> Items, string? Next)
{
    /// <summary>
    /// Items per page when the caller gives no <c>limit</c>. Bounded so that one request costs the same in a pool of
    /// ten nodes and one of ten thousand; a node is about 700 bytes of JSON, so a default page is about 350 KB.
    /// </summary>
    public const int DefaultLimit = 500;

    /// <summary>The most items one page holds; a larger <c>limit</c> is served as this many.</summary>
    public const int MaxLimit = 1000;

    /// <summary>Events are smaller (about 200 bytes): their pages were bounded at 5,000 before lists were paged, and stay so.</summary>
    public const int MaxEventLimit = 5000;

    public const int DefaultEventLimit = 200;
}
