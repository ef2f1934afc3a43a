using Tessera.Generation;

namespace Tessera.Engine.Model;

/// <summary>
/// Pools one input's final-normed hidden states (<see cref="LogitsMode.NormedHidden"/>) as they are computed, chunk after
/// chunk in position order, so a long input prefilled in pieces pools to the same vector as in one pass: the mean sums in
/// double in position order, cls keeps position 0, last keeps the latest row. <see cref="Result"/> is L2-normalised.
/// </summary>
public sealed class EmbeddingAccumulator
{
    private readonly double[] _sum;
    private readonly float[] _kept;

    public EmbeddingAccumulator(EmbeddingPooling pooling, int width)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        if (!Enum.IsDefined(pooling))
            throw new ArgumentOutOfRangeException(nameof(pooling), $"Unknown pooling {(int)pooling}.");
        Pooling = pooling;
        _sum = pooling == EmbeddingPooling.Mean ? new double[width] : [];
        _kept = new float[width];
    }

    public EmbeddingPooling Pooling { get; }

    public int Width => _kept.Length;

    /// <summary>Positions pooled so far: the next chunk must start here.</summary>
    public int Positions { get; private set; }

    /// <summary>Forgets every position (a replay starts the input again from position 0).</summary>
    public void Reset()
    {
        Array.Clear(_sum);
        Array.Clear(_kept);
        Positions = 0;
    }

    /// <summary>Adds the rows of positions <see cref="Positions"/> onwards: <paramref name="rows"/> holds whole rows of <see cref="Width"/> floats.</summary>
    public void Add(ReadOnlySpan<float> rows)
    {
        var d = Width;
        if (rows.Length % d != 0)
            throw new ArgumentException($"Expected whole rows of {d} floats, got {rows.Length} floats.", nameof(rows));
        var count = rows.Length / d;
        if (count == 0)
            return;
        switch (Pooling)
        {
            case EmbeddingPooling.Mean:
                for (var r = 0; r < count; r++)
                {
                    var row = rows.Slice(r * d, d);
                    for (var i = 0; i < d; i++)
                        _sum[i] += row[i];
                }
                break;
            case EmbeddingPooling.Cls:
                if (Positions == 0)
                    rows[..d].CopyTo(_kept);
                break;
            default:
                rows[^d..].CopyTo(_kept);
                break;
        }
        Positions += count;
    }

    /// <summary>The pooled, L2-normalised vector of the positions added so far.</summary>
    public float[] Result()
    {
        if (Positions == 0)
            throw new InvalidOperationException("No position was pooled.");
        var result = new float[Width];
        if (Pooling == EmbeddingPooling.Mean)
        {
            for (var i = 0; i < result.Length; i++)
                result[i] = (float)(_sum[i] / Positions);
        }
        else
        {
            _kept.CopyTo(result, 0);
        }
        EmbeddingRequest.Normalize(result);
        return result;
    }
}
