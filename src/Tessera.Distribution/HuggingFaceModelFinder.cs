namespace Tessera.Distribution;

/// <summary>
/// An hf:// model for a command that runs it on this machine: found where it already is (Hugging Face's cache, Tessera's
/// store: <see cref="DiskModels"/>), else downloaded into Tessera's store. Offline (HF_HUB_OFFLINE) a tag is chosen among
/// the files on this machine and nothing is downloaded.
/// </summary>
public static class HuggingFaceModelFinder
{
    /// <summary>The path to load <paramref name="reference"/> from (part 1 of a split model, beside its other parts).</summary>
    /// <param name="onDisk">The models on this machine (<see cref="DiskModels.Find"/>).</param>
    /// <exception cref="FormatException">The reference is not valid.</exception>
    /// <exception cref="HuggingFaceException">No such model, or offline and not on this machine; the message says what to do.</exception>
    public static async Task<string> FindOrDownloadAsync(string reference, IReadOnlyList<DiskModel> onDisk, HuggingFaceDownloader downloader, bool offline,
        IProgress<TransferProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onDisk);
        ArgumentNullException.ThrowIfNull(downloader);
        if (offline && HuggingFaceRepoReference.IsRepoReference(reference))
            return ChooseOnDisk(HuggingFaceRepoReference.Parse(reference), onDisk).Path;
        var files = await downloader.ResolveModelAsync(reference, cancellationToken).ConfigureAwait(false);
        if (DiskModels.Resolve(files[0].ToString(), onDisk) is { } local)
            return local.Path;
        return (await downloader.DownloadModelAsync(files, progress, cancellationToken).ConfigureAwait(false)).Path;
    }

    /// <summary>The model <paramref name="repo"/>'s tag names among the files of its repository found on this machine.</summary>
    private static DiskModel ChooseOnDisk(HuggingFaceRepoReference repo, IReadOnlyList<DiskModel> onDisk)
    {
        var prefix = $"{HuggingFaceUri.Scheme}{repo.Owner}/{repo.Repository}{(repo.Revision == HuggingFaceUri.DefaultRevision ? "" : "@" + repo.Revision)}/";
        var files = onDisk.Where(m => m.Name.StartsWith(prefix, StringComparison.Ordinal)).Select(m => m.Name[prefix.Length..]).ToList();
        if (files.Count == 0)
            throw new HuggingFaceException(
                $"{repo}: no model of {repo.RepoId} is on this machine (Hugging Face's cache, Tessera's cache), and HF_HUB_OFFLINE is set, so the hub is not asked: unset HF_HUB_OFFLINE to download it.");
        var chosen = GgufFileChoice.Choose(files, repo.Tag, repo.ToString());
        return DiskModels.Resolve(prefix + chosen.Name, onDisk)
            ?? throw new HuggingFaceException($"{repo}: {chosen.Name} is not on this machine, and HF_HUB_OFFLINE is set: unset HF_HUB_OFFLINE to download it.");
    }
}
