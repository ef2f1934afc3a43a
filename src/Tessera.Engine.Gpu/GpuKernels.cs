using ILGPU;
using ILGPU.Runtime;

namespace Tessera.Engine.Gpu;

/// <summary>
/// The kernels, in ILGPU's C# subset (static, no allocation, no exceptions): compiled to PTX for CUDA, run as they are
/// by the CPU stand-in. Every grouped kernel runs one warp of 32 lanes per group. They follow the CPU engine's
/// arithmetic (llama.cpp's): activations quantized to Q8_0 with an f16 scale before quantized products, exact integer
/// sums per block, one fused multiply-add per block; only the order in which a row's blocks are added differs (lanes
/// take blocks in turn, then a tree of shuffles), so results agree to float rounding, not to the bit.
/// </summary>
internal static class GpuKernels
{
    public const int Lanes = 32;
    public const int Q8_0BlockBytes = 34;
    public const int Q4_0BlockBytes = 18;

    /// <summary>The sum over the warp, in every lane.</summary>
    private static float WarpSum(float value)
    {
        for (var offset = Lanes / 2; offset > 0; offset /= 2)
            value += Warp.ShuffleXor(value, offset);
        return value;
    }

    /// <summary>An f16 (its bits) as float: exact for every value.</summary>
    public static float HalfToFloat(int bits)
    {
        var sign = (bits & 0x8000) << 16;
        var exponent = (bits >> 10) & 0x1F;
        var mantissa = bits & 0x3FF;
        if (exponent == 0)
        {
            var subnormal = mantissa * 5.9604645e-8f; // 2^-24
            return sign != 0 ? -subnormal : subnormal;
        }
        if (exponent == 31)
            return Interop.IntAsFloat((uint)(sign | 0x7F800000 | (mantissa << 13)));
        return Interop.IntAsFloat((uint)(sign | ((exponent + 112) << 23) | (mantissa << 13)));
    }

    /// <summary>The nearest f16 value (ties to even), as float: what the CPU's (float)(Half)x gives.</summary>
    public static float RoundToHalf(float x)
    {
        var bits = Interop.FloatAsInt(x);
        var sign = bits & 0x80000000u;
        var magnitude = bits & 0x7FFFFFFFu;
        if (magnitude >= 0x7F800000u)
            return x; // inf, NaN
        if (magnitude >= 0x477FF000u)
            return Interop.IntAsFloat(sign | 0x7F800000u); // rounds past 65504
        if (magnitude < 0x38800000u)
        {
            // Below the smallest normal f16: a multiple of 2^-24, rounded to nearest even.
            var scaled = Interop.IntAsFloat(magnitude) * 16777216f;
            var rounded = RoundEven(scaled) * 5.9604645e-8f;
            return sign != 0 ? -rounded : rounded;
        }
        var lsb = (magnitude >> 13) & 1u;
        magnitude = (magnitude + 0xFFFu + lsb) & 0xFFFFE000u;
        return Interop.IntAsFloat(sign | magnitude);
    }

    /// <summary>Nearest integer, ties to even (as the CPU's vector round), for |x| well below 2^23.</summary>
    public static float RoundEven(float x)
    {
        var floor = MathF.Floor(x);
        var diff = x - floor;
        if (diff > 0.5f)
            return floor + 1;
        if (diff < 0.5f)
            return floor;
        return ((int)floor & 1) == 0 ? floor : floor + 1;
    }

    /// <summary>
    /// Q8_0 activations: index b quantizes block b (32 values) of <paramref name="x"/>: quants in <paramref name="qs"/>,
    /// the f16-rounded scale in <paramref name="d"/>, as <c>ActivationQuant.QuantizeQ8_0</c> does. One thread per block:
    /// activations are a few kilobytes, and a block's maximum needs no exchange between threads.
    /// </summary>
    public static void QuantizeQ8_0(Index1D i, ArrayView<float> x, ArrayView<sbyte> qs, ArrayView<float> d)
    {
        var start = (long)(int)i * 32;
        var amax = 0f;
        for (var j = 0; j < 32; j++)
            amax = MathF.Max(amax, MathF.Abs(x[start + j]));
        var id = amax > 0 ? 127f / amax : 0f;
        for (var j = 0; j < 32; j++)
        {
            var q = RoundEven(x[start + j] * id);
            qs[start + j] = (sbyte)(int)MathF.Min(MathF.Max(q, -127f), 127f);
        }
        d[i] = amax > 0 ? RoundToHalf(amax / 127f) : 0f;
    }

    /// <summary>Rows of weights one group computes at a time (one per lane when the partial sums are added).</summary>
    public const int TileRows = 32;

    /// <summary>Tokens one group computes at a time: a batch's tokens read the tile's rows while they are in cache.</summary>
    public const int TileTokens = 4;

    // Partial sums of one row are 33 floats apart, so the lanes adding rows up read distinct shared-memory banks.
    private const int PartialStride = Lanes + 1;

    /// <summary>
    /// y[t, r] = sum_k W[r, k] x[t, k] for every product type, the type's arithmetic in <typeparamref name="TRows"/>.
    /// A group (one warp) takes tiles of <see cref="TileRows"/> rows x <see cref="TileTokens"/> tokens in turn (a
    /// grid-stride loop, so any grid size works); each lane computes its share of every dot product of the tile (the
    /// row's blocks or columns it takes), the shares meet in shared memory, and lane r adds row r's 32 shares in order.
    /// Two barriers per tile and no shuffles: the CPU stand-in, where each synchronisation costs a millisecond, runs
    /// whole models in seconds, and a GPU waits once per 32 rows rather than five times per row.
    /// </summary>
    public static void MatMulTiles<TRows>(TRows weights, ArrayView<float> y, int rows, int tokens)
        where TRows : struct, IRowDots
    {
        var partials = SharedMemory.Allocate<float>(TileTokens * TileRows * PartialStride);
        var lane = Group.IdxX;
        var rowTiles = (rows + TileRows - 1) / TileRows;
        var items = rowTiles * ((tokens + TileTokens - 1) / TileTokens);
        for (var item = Grid.IdxX; item < items; item += Grid.DimX)
        {
            var firstRow = item % rowTiles * TileRows;
            var firstToken = item / rowTiles * TileTokens;
            var rowCount = Math.Min(TileRows, rows - firstRow);
            var tokenCount = Math.Min(TileTokens, tokens - firstToken);
            for (var r = 0; r < rowCount; r++)
            {
                for (var tt = 0; tt < tokenCount; tt++)
                    partials[(tt * TileRows + r) * PartialStride + lane] = weights.Partial(firstRow + r, firstToken + tt, lane);
            }
            Group.Barrier();
            if (lane < rowCount)
            {
                for (var tt = 0; tt < tokenCount; tt++)
                {
                    var at = (tt * TileRows + lane) * PartialStride;
                    var sum = 0f;
                    for (var l = 0; l < Lanes; l++)
                        sum += partials[at + l];
                    y[(long)(firstToken + tt) * rows + firstRow + lane] = sum;
                }
            }
            Group.Barrier(); // the next tile overwrites the shares
        }
    }

    /// <summary>The quantized weight types of <see cref="QuantRows"/>.</summary>
    public const int KindQ8_0 = 0;
    public const int KindQ4_0 = 1;

    /// <summary>A Q8_0 block's exact integer sum: its 32 signed quants (from <paramref name="q"/>) times the activations' (from <paramref name="a"/>).</summary>
    internal static int Q8_0Sum(ArrayView<byte> w, long q, ArrayView<sbyte> qs, long a)
    {
        var isum = 0;
        for (var j = 0; j < 32; j++)
            isum += (sbyte)w[q + j] * qs[a + j];
        return isum;
    }

    /// <summary>A Q4_0 block's: quant j is byte j's low nibble minus 8, quant 16 + j its high nibble minus 8.</summary>
    internal static int Q4_0Sum(ArrayView<byte> w, long q, ArrayView<sbyte> qs, long a)
    {
        var isum = 0;
        for (var j = 0; j < 16; j++)
        {
            int packed = w[q + j];
            isum += ((packed & 0xF) - 8) * qs[a + j] + ((packed >> 4) - 8) * qs[a + 16 + j];
        }
        return isum;
    }

    /// <summary>y = x / sqrt(mean(x^2) + eps) * weight for row Grid.IdxX (each group one token's row of <c>weight.Length</c> values).</summary>
    public static void RmsNorm(ArrayView<float> x, ArrayView<float> weight, ArrayView<float> y, float eps)
    {
        var width = (int)weight.Length;
        var start = (long)Grid.IdxX * width;
        var lane = Group.IdxX;
        var sum = 0f;
        for (var k = lane; k < width; k += Lanes)
        {
            var v = x[start + k];
            sum += v * v;
        }
        sum = WarpSum(sum);
        var scale = 1f / MathF.Sqrt(sum / width + eps);
        for (var k = lane; k < width; k += Lanes)
            y[start + k] = x[start + k] * scale * weight[k];
    }

    /// <summary>
    /// Embedding lookup: value i of the output is column i % cols of row <c>ids[i / cols]</c>, dequantized by
    /// <see cref="WeightAt"/> (any supported <paramref name="type"/>, a <see cref="Tensors.GgmlType"/>): the same bits
    /// as the CPU's dequantization.
    /// </summary>
    public static void GetRows(Index1D i, ArrayView<byte> w, ArrayView<int> ids, ArrayView<float> output, int cols, int rowBytes, int type)
    {
        int index = i;
        output[index] = WeightAt(w, (long)ids[index / cols] * rowBytes, index % cols, type);
    }

    // The ggml type numbers WeightAt reads (Tensors.GgmlType's values).
    public const int TypeF32 = 0;
    public const int TypeF16 = 1;
    public const int TypeQ4_0 = 2;
    public const int TypeQ8_0 = 8;
    public const int TypeQ5_0 = 6;
    public const int TypeQ4_1 = 3;
    public const int TypeQ5_1 = 7;
    public const int TypeIQ4_NL = 20;
    public const int TypeQ2_K = 10;
    public const int TypeQ3_K = 11;
    public const int TypeIQ4_XS = 23;
    public const int TypeQ4_K = 12;
    public const int TypeQ5_K = 13;
    public const int TypeQ6_K = 14;
    public const int TypeBF16 = 30;

    /// <summary>
    /// Rotary position embedding in place, one pair of one head of one row per index: rows of
    /// <c>heads * headDim</c> values, row t at position <paramref name="start"/> + t, angles from the host's table
    /// (<paramref name="cos"/>, <paramref name="sin"/>: positions x pairs). Pairs are adjacent values, or for
    /// <paramref name="neox"/> != 0 value i with value i + dims / 2, as <c>RopeTable.Apply</c> rotates them.
    /// </summary>
    public static void Rope(Index1D i, ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, int heads, int headDim, int pairs, int start, int neox)
    {
        int index = i;
        var pair = index % pairs;
        var head = index / pairs % heads;
        var t = index / (pairs * heads);
        var angle = (long)(start + t) * pairs + pair;
        var c = cos[angle];
        var s = sin[angle];
        var first = (long)t * heads * headDim + head * headDim + (neox != 0 ? pair : 2 * pair);
        var second = first + (neox != 0 ? pairs : 1);
        var x0 = x[first];
        var x1 = x[second];
        x[first] = x0 * c - x1 * s;
        x[second] = x0 * s + x1 * c;
    }

    /// <summary>
    /// Causal grouped-query attention for one sequence: a group (one warp) takes (query row, head) pairs in turn. Query
    /// row t (at position start + t) attends to positions 0..start + t of <paramref name="keys"/> and
    /// <paramref name="values"/> (rows of kvHeads x headDim), in the CPU engine's numerics (llama.cpp's): the query rounded
    /// to f16, the soft max's probabilities rounded to f16 before they meet the values. Lanes take positions in turn for
    /// the scores (kept in the group's stretch of <paramref name="scratch"/>, start + tokens floats per group), the
    /// maximum and the sum meet in shared memory, then lanes take head dimensions for the weighted values. Three
    /// barriers per pair, no shuffles. A reference kernel, to be tiled for long contexts.
    /// </summary>
    public static void Attention(ArrayView<float> queries, ArrayView<float> keys, ArrayView<float> values, ArrayView<float> output,
        ArrayView<float> scratch, AttentionParameters a)
    {
        var maxima = SharedMemory.Allocate<float>(Lanes);
        var sums = SharedMemory.Allocate<float>(Lanes);
        var lane = Group.IdxX;
        var (tokens, start, heads, headDim) = (a.Tokens, a.Start, a.Heads, a.HeadDim);
        var kvWidth = a.KvHeads * headDim;
        var mine = (long)Grid.IdxX * (start + tokens);
        for (var item = Grid.IdxX; item < tokens * heads; item += Grid.DimX)
        {
            var head = item % heads;
            var t = item / heads;
            var kv = head / (heads / a.KvHeads) * headDim;
            var q = (long)t * heads * headDim + head * headDim;
            var visible = start + t + 1;
            // A sliding window hides the positions before it; they count as the masked cells they are on the CPU.
            var first = a.Window > 0 ? Math.Max(0, visible - a.Window) : 0;
            var max = float.NegativeInfinity;
            for (var p = first + lane; p < visible; p += Lanes)
            {
                var dot = 0f;
                var k = (long)p * kvWidth + kv;
                for (var j = 0; j < headDim; j++)
                    dot += RoundToHalf(queries[q + j]) * keys[k + j];
                var score = dot * a.Scale;
                if (a.SoftCap > 0)
                    score = MathF.Tanh(score * (1f / a.SoftCap)) * a.SoftCap;
                scratch[mine + p] = score;
                max = MathF.Max(max, score);
            }
            maxima[lane] = max;
            Group.Barrier();
            max = float.NegativeInfinity;
            for (var l = 0; l < Lanes; l++)
                max = MathF.Max(max, maxima[l]);
            var sum = 0f;
            for (var p = first + lane; p < visible; p += Lanes)
            {
                var e = MathF.Exp(scratch[mine + p] - max);
                scratch[mine + p] = e;
                sum += e;
            }
            sums[lane] = sum;
            Group.Barrier(); // also makes every lane's exponentials visible to the others
            sum = 0f;
            for (var l = 0; l < Lanes; l++)
                sum += sums[l];
            var inverse = 1f / sum;
            for (var j = lane; j < headDim; j += Lanes)
            {
                var acc = 0f;
                for (var p = first; p < visible; p++)
                    acc += RoundToHalf(scratch[mine + p] * inverse) * values[(long)p * kvWidth + kv + j];
                output[q + j] = acc;
            }
            Group.Barrier(); // the next pair overwrites the scratch and the shared values
        }
    }

    /// <summary>
    /// Q8_K activations, as values: index b quantizes block b (256 values) of <paramref name="x"/> as the CPU engine does
    /// (scale -127 / the signed value of largest magnitude, the first such value on ties; halves to even) and writes
    /// quant x scale for each value into <paramref name="effective"/>. One thread per block, as for Q8_0.
    /// </summary>
    public static void EffectiveQ8_K(Index1D i, ArrayView<float> x, ArrayView<float> effective)
    {
        var start = (long)(int)i * 256;
        var amax = 0f;
        var max = 0f;
        for (var j = 0; j < 256; j++)
        {
            var v = x[start + j];
            if (MathF.Abs(v) > amax)
            {
                amax = MathF.Abs(v);
                max = v;
            }
        }
        var id = amax == 0 ? 0f : -127f / max;
        var d = amax == 0 ? 0f : 1f / id;
        for (var j = 0; j < 256; j++)
        {
            var q = MathF.Min(MathF.Max(RoundEven(x[start + j] * id), -127f), 127f);
            effective[start + j] = q * d;
        }
    }

    /// <summary>Q8_0 activations, as values: quant x its block's scale (from <see cref="QuantizeQ8_0"/>'s output).</summary>
    public static void EffectiveQ8_0(Index1D i, ArrayView<sbyte> qs, ArrayView<float> d, ArrayView<float> effective)
    {
        int index = i;
        effective[index] = qs[index] * d[index / 32];
    }

    /// <summary>
    /// Weight <paramref name="col"/> of the row at <paramref name="rowStart"/>, dequantized as ReferenceQuant does (same
    /// operations, same order) for every type the kernels support: the embedding lookup and the reference product.
    /// </summary>
    internal static float WeightAt(ArrayView<byte> w, long rowStart, int col, int type)
    {
        if (type == TypeF32)
        {
            var o = rowStart + 4L * col;
            return Interop.IntAsFloat((uint)(w[o] | (w[o + 1] << 8) | (w[o + 2] << 16) | (w[o + 3] << 24)));
        }
        if (type == TypeF16)
        {
            var o = rowStart + 2L * col;
            return HalfToFloat(w[o] | (w[o + 1] << 8));
        }
        if (type == TypeQ8_0)
        {
            var o = rowStart + (long)(col / 32) * Q8_0BlockBytes;
            return HalfToFloat(w[o] | (w[o + 1] << 8)) * (sbyte)w[o + 2 + col % 32];
        }
        if (type == TypeQ4_0)
        {
            var o = rowStart + (long)(col / 32) * Q4_0BlockBytes;
            var j = col % 32;
            int packed = w[o + 2 + j % 16];
            return HalfToFloat(w[o] | (w[o + 1] << 8)) * ((j < 16 ? packed & 0xF : packed >> 4) - 8);
        }
        if (type == TypeBF16)
        {
            var o = rowStart + 2L * col;
            return Interop.IntAsFloat((uint)((w[o] | (w[o + 1] << 8)) << 16));
        }
        if (type == TypeQ5_0)
        {
            var o = rowStart + (long)(col / 32) * 22;
            var j = col % 32;
            var qh = w[o + 2] | (w[o + 3] << 8) | (w[o + 4] << 16) | (w[o + 5] << 24);
            int packed = w[o + 6 + j % 16];
            var q = ((j < 16 ? packed & 0xF : packed >> 4) | (((qh >> j) & 1) << 4)) - 16;
            return q * HalfToFloat(w[o] | (w[o + 1] << 8));
        }
        if (type == TypeIQ4_NL)
        {
            // d; nibbles as Q4_0's, each an index into ggml's 16 non-uniform levels.
            var o = rowStart + (long)(col / 32) * 18;
            var j = col % 32;
            int packed = w[o + 2 + j % 16];
            return IQ4NLLevel(j < 16 ? packed & 0xF : packed >> 4) * HalfToFloat(w[o] | (w[o + 1] << 8));
        }
        if (type == TypeQ4_1 || type == TypeQ5_1)
        {
            // d, m, (Q5_1: qh,) nibbles: value = q x d + m with q unsigned.
            var five = type == TypeQ5_1;
            var o = rowStart + (long)(col / 32) * (five ? 24 : 20);
            var j = col % 32;
            int packed = w[o + (five ? 8 : 4) + j % 16];
            var q = j < 16 ? packed & 0xF : packed >> 4;
            if (five)
                q |= (((w[o + 4] | (w[o + 5] << 8) | (w[o + 6] << 16) | (w[o + 7] << 24)) >> j) & 1) << 4;
            return q * HalfToFloat(w[o] | (w[o + 1] << 8)) + HalfToFloat(w[o + 2] | (w[o + 3] << 8));
        }
        if (type == TypeQ2_K || type == TypeQ3_K)
        {
            // Weight 128h + 32s + b: bits 2s of quant byte 32h + b; a scale per 16 weights.
            var q3 = type == TypeQ3_K;
            var o = rowStart + (long)(col / 256) * (q3 ? 110 : 84);
            var e = col % 256;
            var q = (w[o + (q3 ? 32 : 16) + 32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
            if (!q3)
            {
                // Q2_K: 16 scale bytes (low nibble scale, high nibble min), the quants, f16 d, f16 dmin.
                int sc = w[o + e / 16];
                var dl = HalfToFloat(w[o + 80] | (w[o + 81] << 8)) * (sc & 0xF);
                return dl * q - HalfToFloat(w[o + 82] | (w[o + 83] << 8)) * (sc >> 4);
            }
            // Q3_K: high bits (bit e / 32 of byte e % 32: q - 4 where it is clear), the quants, 6-bit scales, f16 d.
            var j = e / 16;
            var low = j < 8 ? w[o + 96 + j] & 0xF : w[o + 96 + j - 8] >> 4;
            var high = (w[o + 104 + j % 4] >> (2 * (j / 4))) & 3;
            var d3 = HalfToFloat(w[o + 108] | (w[o + 109] << 8)) * ((low | (high << 4)) - 32);
            return d3 * (q - (((w[o + e % 32] >> (e / 32)) & 1) != 0 ? 0 : 4));
        }
        if (type == TypeIQ4_XS)
        {
            // f16 d, u16 high scale bits, 4 bytes of low scale nibbles, 8 blocks of IQ4_NL nibbles.
            var o = rowStart + (long)(col / 256) * 136;
            var ib = col % 256 / 32;
            var j = col % 32;
            var ls = ((w[o + 4 + ib / 2] >> (4 * (ib % 2))) & 0xF) | ((((w[o + 2] | (w[o + 3] << 8)) >> (2 * ib)) & 3) << 4);
            int packed = w[o + 8 + 16 * ib + j % 16];
            var dl = HalfToFloat(w[o] | (w[o + 1] << 8)) * (ls - 32);
            return dl * IQ4NLLevel(j < 16 ? packed & 0xF : packed >> 4);
        }
        if (type == TypeQ6_K)
        {
            var o = rowStart + (long)(col / 256) * 210;
            var e = col % 256;
            var h = e / 128;
            var k = e % 128 / 32;
            var l = e % 32;
            int low = w[o + 64 * h + l + 32 * (k & 1)];
            var nibble = k < 2 ? low & 0xF : low >> 4;
            var high = (w[o + 128 + 32 * h + l] >> (2 * k)) & 3;
            var d = HalfToFloat(w[o + 208] | (w[o + 209] << 8));
            return d * (sbyte)w[o + 192 + e / 16] * ((nibble | (high << 4)) - 32);
        }
        // Q4_K and Q5_K: f16 d and dmin, 12 bytes of 6-bit scales and mins, (Q5_K: 32 bytes of fifth bits), quants.
        var block = rowStart + (long)(col / 256) * (type == TypeQ4_K ? 144 : 176);
        var v = col % 256;
        var c = v / 64;
        var upper = v % 64 >= 32;
        var lane = v % 32;
        var sub = 2 * c + (upper ? 1 : 0);
        var scales = block + 4;
        int scale, min;
        if (sub < 4)
        {
            scale = w[scales + sub] & 63;
            min = w[scales + sub + 4] & 63;
        }
        else
        {
            scale = (w[scales + sub + 4] & 0xF) | ((w[scales + sub - 4] >> 6) << 4);
            min = (w[scales + sub + 4] >> 4) | ((w[scales + sub] >> 6) << 4);
        }
        var quantStart = block + (type == TypeQ4_K ? 16 : 48);
        int packedK = w[quantStart + 32 * c + lane];
        var quant = upper ? packedK >> 4 : packedK & 0xF;
        if (type == TypeQ5_K)
            quant |= ((w[block + 16 + lane] >> sub) & 1) << 4;
        var dK = HalfToFloat(w[block] | (w[block + 1] << 8));
        var dmin = HalfToFloat(w[block + 2] | (w[block + 3] << 8));
        return dK * scale * quant - dmin * min;
    }

    /// <summary>output = silu(gate) * up, element by element.</summary>
    public static void SwiGlu(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> output)
    {
        var g = gate[i];
        output[i] = g / (1f + MathF.Exp(-g)) * up[i];
    }

    /// <summary>
    /// output = gelu(gate) * up with ggml's GELU: 0 at or below -10, x at or above 10, else <paramref name="table"/> (ggml's
    /// f16 table, as floats) at the gate rounded to f16.
    /// </summary>
    public static void GeGlu(Index1D i, ArrayView<float> gate, ArrayView<float> up, ArrayView<float> output, ArrayView<float> table)
    {
        var g = gate[i];
        var y = g <= -10f ? 0f : g >= 10f ? g : table[HalfBits(RoundToHalf(g))];
        output[i] = y * up[i];
    }

    /// <summary>ggml's <c>kvalues_iq4nl</c> level <paramref name="q"/> (0..15), without a table in device memory.</summary>
    public static float IQ4NLLevel(int q) => q switch
    {
        0 => -127f, 1 => -104f, 2 => -83f, 3 => -65f, 4 => -49f, 5 => -35f, 6 => -22f, 7 => -10f,
        8 => 1f, 9 => 13f, 10 => 25f, 11 => 38f, 12 => 53f, 13 => 69f, 14 => 89f, _ => 113f,
    };

    /// <summary>The f16 bits of <paramref name="h"/>, a finite value an f16 holds exactly.</summary>
    public static int HalfBits(float h)
    {
        var bits = Interop.FloatAsInt(h);
        var sign = (int)(bits >> 16) & 0x8000;
        var magnitude = bits & 0x7FFFFFFFu;
        if (magnitude < 0x38800000u) // below the smallest normal f16: a multiple of 2^-24
            return sign | (int)(Interop.IntAsFloat(magnitude) * 16777216f);
        return sign | (int)(((magnitude >> 23) - 112u) << 10) | (int)((magnitude >> 13) & 0x3FFu);
    }

    /// <summary>x = x * factor in place.</summary>
    public static void Scale(Index1D i, ArrayView<float> x, float factor) => x[i] *= factor;

    /// <summary>x = cap * tanh(x * (1 / cap)) in place.</summary>
    public static void SoftCap(Index1D i, ArrayView<float> x, float cap) => x[i] = MathF.Tanh(x[i] * (1f / cap)) * cap;

    /// <summary>y = a + b, element by element.</summary>
    public static void Add(Index1D i, ArrayView<float> a, ArrayView<float> b, ArrayView<float> y) => y[i] = a[i] + b[i];

    /// <summary>Adds <paramref name="bias"/> to every row (of its length) of <paramref name="rows"/>.</summary>
    public static void AddBias(Index1D i, ArrayView<float> rows, ArrayView<float> bias) => rows[i] += bias[i % bias.IntLength];

    /// <summary>Rounds each value to the nearest f16 in place (the KV cache's values).</summary>
    public static void RoundHalfInPlace(Index1D i, ArrayView<float> x) => x[i] = RoundToHalf(x[i]);

    /// <summary>Rounds each value to the nearest bf16 in place, ties to even on the dropped bits, as the CPU engine does.</summary>
    public static void RoundBFloat16InPlace(Index1D i, ArrayView<float> x)
    {
        var bits = Interop.FloatAsInt(x[i]);
        if ((bits & 0x7F800000u) != 0x7F800000u)
            bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
        x[i] = Interop.IntAsFloat(bits);
    }
}

/// <summary>One attention call's shape, as <see cref="GpuKernels.Attention"/> takes it (see <c>AttentionShape</c>).</summary>
public readonly record struct AttentionParameters(int Tokens, int Start, int Heads, int KvHeads, int HeadDim, float Scale, float SoftCap, int Window);
