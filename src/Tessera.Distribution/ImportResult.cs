namespace Tessera.Distribution;

/// <summary>How <see cref="ContentStore.ImportFileAsync"/> brought a file in.</summary>
public enum ImportMethod
{
    /// <summary>The store held the same bytes already.</summary>
    AlreadyHeld,

    /// <summary>A hard link: the store's blob is one more name of the user's file.</summary>
    HardLink,

    /// <summary>A copy: the file is on another file system, or links were refused.</summary>
    Copy,
}

/// <summary>A file imported into the store: its hash, and how it got there.</summary>
public sealed record ImportResult(ContentHash Hash, ImportMethod Method);
