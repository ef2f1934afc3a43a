using Tessera.Engine.Model;
using Tessera.Generation;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// Embedding sessions (SessionOpen.pooling) at the last stage: their positions run in the same pass as the sampling
/// sessions but in a second forward call that stops at the final norm (<see cref="LogitsMode.NormedHidden"/>); the rows
/// are pooled per session chunk by chunk, and the work entry that samples gets the vector back instead of a token.
/// </summary>
public sealed partial class StageHost
{
    /// <summary>Slices of sampling sessions in this pass: they come first, embedding sessions' slices after.</summary>
    private int _generating;
    private float[] _normed = [];

    private EmbeddingAccumulator? PoolerFor(SessionOpen open) =>
        _stage.IsLast && open.Pooling != 0 ? new EmbeddingAccumulator((EmbeddingPooling)open.Pooling, _stage.Config.EmbeddingLength) : null;

    /// <summary>Moves the slices of embedding sessions after the others (keeping each group's order); returns how many sample.</summary>
    private int PutEmbeddingsLast()
    {
        var generating = 0;
        foreach (var s in _slices)
        {
            if (s.Session.Pooled is null)
                generating++;
        }
        if (generating == _slices.Count)
            return generating;
        var ordered = _slices.Where(s => s.Session.Pooled is null).Concat(_slices.Where(s => s.Session.Pooled is not null)).ToList();
        _slices.Clear();
        _slices.AddRange(ordered);
        return generating;
    }

    /// <summary>The pass: sampling sessions' logits into _output, embedding sessions' normed rows into _normed.</summary>
    private void ForwardSplit(Span<BatchSequence> batch, int n, int d)
    {
        var first = 0;
        for (var i = 0; i < _generating; i++)
            first += _slices[i].Count;
        var hidden = _stage.IsFirst ? default : _input.AsSpan(0, n * d);
        if (_generating > 0)
            _stage.Forward(batch[.._generating], _tokens.AsSpan(0, first), hidden.IsEmpty ? default : hidden[..(first * d)], _output);
        if (_generating == batch.Length)
            return;
        var rest = batch[_generating..];
        if (_normed.Length < (n - first) * d)
            _normed = new float[Math.Max((n - first) * d, _normed.Length * 2)];
        _stage.Forward(rest, _tokens.AsSpan(first, n - first), hidden.IsEmpty ? default : hidden[(first * d)..], _normed, LogitsMode.NormedHidden);
    }

    /// <summary>Pools an embedding slice's rows (from <paramref name="row"/> of _normed); after the sampling entry, sends the vector up.</summary>
    private void Pool(Slice s, int row)
    {
        var pooled = s.Session.Pooled!;
        var d = _stage.Config.EmbeddingLength;
        if (s.Start == 0)
            pooled.Reset(); // a replay or a rewind to the start pools the input afresh
        if (s.Start != pooled.Positions)
        {
            lock (_gate)
            {
                Retire(s.Item.Lane, s.Item.Session);
                Fail(s.Item.Lane, s.Item.Session, $"embedding session {s.Item.Session} sent position {s.Start}, but {pooled.Positions} positions are pooled: it can only go on or start again");
                Touch(s.Item.Lane).Closes.Add(s.Item.Session);
            }
            return;
        }
        pooled.Add(_normed.AsSpan(row * d, s.Count * d));
        if (s.SampleStep < 0)
            return;
        var token = new SampledToken { Session = s.Item.Session, Step = s.SampleStep };
        token.Embedding.Add(pooled.Result());
        lock (_gate)
            Touch(s.Item.Lane).Tokens.Add(token);
    }
}
