namespace Tessera.Storage;

/// <summary>The database was written by a newer Tessera, whose schema this build does not know.</summary>
public sealed class SchemaVersionException(string path, int found, int known)
    : Exception($"{path} has schema version {found}, but this Tessera knows versions up to {known}: it was written by a newer release. Run that release (or newer), or restore a backup made with this one.")
{
    public int Found { get; } = found;

    public int Known { get; } = known;
}
