using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Tessera.Engine.Kernels;

/// <summary>What a super-block keeps between its eight groups (decoded scales, the high bits or the level table).</summary>
internal struct KBlockState
{
    public Vector128<sbyte> Scales;
    public Vector256<byte> Extra;
}

/// <summary>
/// A 256-weight super-block (Q2_K, Q3_K, IQ4_XS) read as eight groups of 32 weights, group g meeting activations
/// 32g..32g+31, each half of 16 with an integer scale of its own (both halves the same for IQ4_XS). This is how
/// llama.cpp's AVX2 kernels for these types walk a super-block, so <see cref="KBlockDot{TB}"/> reads all three.
/// </summary>
internal unsafe interface IKSuperBlock
{
    /// <summary>Bytes per super-block.</summary>
    static abstract int Bytes { get; }

    /// <summary>The super-block's f16 scale.</summary>
    static abstract float D(byte* blk);

    /// <summary>True when values carry a subtracted minimum per 16 weights (Q2_K).</summary>
    static abstract bool HasMins { get; }

    /// <summary>The super-block's f16 scale of the minimums (when <see cref="HasMins"/>).</summary>
    static abstract float Dmin(byte* blk);

    /// <summary>Weight <paramref name="e"/> (0..255) as the signed integer its scale multiplies (scalar kernel).</summary>
    static abstract int Quant(byte* blk, int e);

    /// <summary>The integer scale of weight <paramref name="e"/> (scalar kernel).</summary>
    static abstract int Scale(byte* blk, int e);

    /// <summary>The minimum of weights 16j..16j+15 (when <see cref="HasMins"/>, scalar kernel).</summary>
    static abstract int Min(byte* blk, int j);

    /// <summary>What the groups of one super-block share, decoded once.</summary>
    static abstract KBlockState Prepare(byte* blk);

    /// <summary>Group <paramref name="g"/>'s 32 weights as bytes for <see cref="Products"/>.</summary>
    static abstract Vector256<byte> Group(byte* blk, in KBlockState state, int g);

    /// <summary>The exact products of a group with its 32 activations, summed in adjacent pairs (16 x i16).</summary>
    static abstract Vector256<short> Products(Vector256<byte> w, Vector256<sbyte> x);

    /// <summary>Group <paramref name="g"/>'s scales as 16 i16 lanes, matching <see cref="Products"/>' pairs.</summary>
    static abstract Vector256<short> GroupScales(in KBlockState state, int g);

    /// <summary>Lane k: min[2k] x bsums[2k] + min[2k+1] x bsums[2k+1] (when <see cref="HasMins"/>).</summary>
    static abstract Vector256<int> MinLanes(byte* blk, short* bsums);
}

/// <summary>
/// Dot products of Q2_K, Q3_K and IQ4_XS rows with Q8_K activations in llama.cpp's AVX2 order: each super-block reduces
/// to eight exact integer lanes (lane k: the scaled products of weights 4k..4k+3 of every 32-weight group) that enter
/// eight float accumulators by one fused multiply-add with d_x x d (Q2_K adds its mins' lanes first, by one with
/// -d_x x dmin), then <c>hsum_float_8</c>. The scalar, one-token and four-token kernels give the same bits.
/// </summary>
internal static unsafe class KBlockDot<TB> where TB : struct, IKSuperBlock
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Scalar(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        var acc = new KQuantDot.ScalarLanes();
        var lanes = stackalloc int[8];
        var minLanes = stackalloc int[8];
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * TB.Bytes;
            var x = xq + 256 * sb;
            for (var k = 0; k < 8; k++)
            {
                var lane = 0;
                for (var g = 0; g < 8; g++)
                {
                    var e = 32 * g + 4 * k;
                    var part = 0;
                    for (var i = 0; i < 4; i++)
                        part += TB.Quant(blk, e + i) * x[e + i];
                    lane += TB.Scale(blk, e) * part;
                }
                lanes[k] = lane;
            }
            if (TB.HasMins)
            {
                var b = bsums + 16 * sb;
                for (var k = 0; k < 8; k++)
                    minLanes[k] = TB.Min(blk, 2 * k) * b[2 * k] + TB.Min(blk, 2 * k + 1) * b[2 * k + 1];
                acc.AddMins8(minLanes, xd[sb], TB.Dmin(blk));
            }
            acc.Add(lanes, xd[sb], TB.D(blk));
        }
        return acc.Total8();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scalar4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride) =>
        TokenLoop.Four(&Scalar, w, act, actStride, cols, y, yStride);

    /// <summary>One group's scaled products: 8 exact i32 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Step(Vector256<byte> q, sbyte* x, Vector256<short> scales) =>
        Avx2.MultiplyAddAdjacent(TB.Products(q, Vector256.Load(x)), scales);

    /// <summary>Group <paramref name="g"/> of one super-block against one token's activations <paramref name="x"/> (of that super-block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Group(byte* blk, in KBlockState state, sbyte* x, int g) =>
        Step(TB.Group(blk, state, g), x + 32 * g, TB.GroupScales(state, g));

    /// <summary>The integer lanes of four tokens.</summary>
    private struct Four
    {
        public Vector256<int> C0, C1, C2, C3;
    }

    /// <summary>Group <paramref name="g"/> unpacked once, against four tokens.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Group4(byte* blk, in KBlockState state, sbyte* x0, sbyte* x1, sbyte* x2, sbyte* x3, int g, ref Four c)
    {
        var q = TB.Group(blk, state, g);
        var scales = TB.GroupScales(state, g);
        c.C0 += Step(q, x0 + 32 * g, scales);
        c.C1 += Step(q, x1 + 32 * g, scales);
        c.C2 += Step(q, x2 + 32 * g, scales);
        c.C3 += Step(q, x3 + 32 * g, scales);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static float Avx2Dot(byte* w, byte* act, int cols)
    {
        var nb = cols / 256;
        var xq = ActivationQuant.Q8_KQs(act);
        var xd = ActivationQuant.Q8_KD(act, cols);
        var bsums = ActivationQuant.Q8_KBsums(act, cols);
        var lanes = new KQuantDot.Lanes();
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * TB.Bytes;
            var state = TB.Prepare(blk);
            var x = xq + 256 * sb;
            // Written out so that each group's shifts and scale shuffles are constants once inlined.
            var acc = Group(blk, state, x, 0) + Group(blk, state, x, 1) + Group(blk, state, x, 2) + Group(blk, state, x, 3)
                + Group(blk, state, x, 4) + Group(blk, state, x, 5) + Group(blk, state, x, 6) + Group(blk, state, x, 7);
            if (TB.HasMins)
                lanes.AddMins8(TB.MinLanes(blk, bsums + 16 * sb), xd[sb], TB.Dmin(blk));
            lanes.Add(acc, xd[sb], TB.D(blk));
        }
        return lanes.Total8();
    }

    /// <summary>One row against four tokens: each group unpacked once, four chains each in the one-token order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Avx2Dot4(byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        var nb = cols / 256;
        byte* a0 = act, a1 = act + actStride, a2 = act + 2 * actStride, a3 = act + 3 * actStride;
        sbyte* q0 = ActivationQuant.Q8_KQs(a0), q1 = ActivationQuant.Q8_KQs(a1), q2 = ActivationQuant.Q8_KQs(a2), q3 = ActivationQuant.Q8_KQs(a3);
        KQuantDot.Lanes s0 = default, s1 = default, s2 = default, s3 = default;
        for (var sb = 0; sb < nb; sb++)
        {
            var blk = w + sb * TB.Bytes;
            var state = TB.Prepare(blk);
            var four = new Four();
            var off = 256 * sb;
            Group4(blk, state, q0 + off, q1 + off, q2 + off, q3 + off, 0, ref four);
            Group4(blk, state, q0 + off, q1 + off, q2 + off, q3 + off, 1, ref four);
            Group4(blk, state, q0 + off, q1 + off, q2 + off, q3 + off, 2, ref four);
            Group4(blk, state, q0 + off, q1 + off, q2 + off, q3 + off, 3, ref four);
            Group4(blk, state, q0 + off, q1 + off, q2 + off, q3 + off, 4, ref four);
            Group4(blk, state, q0 + off, q1 + off, q2 + off, q3 + off, 5, ref four);
            Group4(blk, state, q0 + off, q1 + off, q2 + off, q3 + off, 6, ref four);
            Group4(blk, state, q0 + off, q1 + off, q2 + off, q3 + off, 7, ref four);
            var (c0, c1, c2, c3) = (four.C0, four.C1, four.C2, four.C3);
            if (TB.HasMins)
            {
                var dmin = TB.Dmin(blk);
                s0.AddMins8(TB.MinLanes(blk, ActivationQuant.Q8_KBsums(a0, cols) + 16 * sb), ActivationQuant.Q8_KD(a0, cols)[sb], dmin);
                s1.AddMins8(TB.MinLanes(blk, ActivationQuant.Q8_KBsums(a1, cols) + 16 * sb), ActivationQuant.Q8_KD(a1, cols)[sb], dmin);
                s2.AddMins8(TB.MinLanes(blk, ActivationQuant.Q8_KBsums(a2, cols) + 16 * sb), ActivationQuant.Q8_KD(a2, cols)[sb], dmin);
                s3.AddMins8(TB.MinLanes(blk, ActivationQuant.Q8_KBsums(a3, cols) + 16 * sb), ActivationQuant.Q8_KD(a3, cols)[sb], dmin);
            }
            var d = TB.D(blk);
            s0.Add(c0, ActivationQuant.Q8_KD(a0, cols)[sb], d);
            s1.Add(c1, ActivationQuant.Q8_KD(a1, cols)[sb], d);
            s2.Add(c2, ActivationQuant.Q8_KD(a2, cols)[sb], d);
            s3.Add(c3, ActivationQuant.Q8_KD(a3, cols)[sb], d);
        }
        y[0] = s0.Total8();
        y[yStride] = s1.Total8();
        y[2 * yStride] = s2.Total8();
        y[3 * yStride] = s3.Total8();
    }
}

/// <summary>
/// Q2_K: 16 bytes of scales (low nibble the 4-bit scale, high nibble the 4-bit min of 16 weights), 64 bytes of 2-bit
/// quants, f16 d, f16 dmin; value = d x scale x q - dmin x min. Group g = 4h + s is bits 2s of bytes 32h..32h+31.
/// </summary>
internal readonly unsafe struct Q2KBlock : IKSuperBlock
{
    public static int Bytes => 84;
    public static float D(byte* blk) => Fp16.ToSingle(*(ushort*)(blk + 80));
    public static bool HasMins => true;
    public static float Dmin(byte* blk) => Fp16.ToSingle(*(ushort*)(blk + 82));
    public static int Quant(byte* blk, int e) => (blk[16 + 32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3;
    public static int Scale(byte* blk, int e) => blk[e / 16] & 0xF;
    public static int Min(byte* blk, int j) => blk[j] >> 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static KBlockState Prepare(byte* blk) => new() { Scales = (Vector128.Load(blk) & Vector128.Create((byte)0x0F)).AsSByte() };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Group(byte* blk, in KBlockState state, int g) =>
        Vector256.ShiftRightLogical(Vector256.Load(blk + 16 + 32 * (g >> 2)).AsUInt16(), 2 * (g & 3)).AsByte() & Vector256.Create((byte)3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> Products(Vector256<byte> w, Vector256<sbyte> x) => Avx2.MultiplyAddAdjacent(w, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> GroupScales(in KBlockState state, int g) => KQuantDot.Q6KScalePair(state.Scales, g);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> MinLanes(byte* blk, short* bsums)
    {
        var mins = Vector128.ShiftRightLogical(Vector128.Load(blk).AsUInt16(), 4).AsByte() & Vector128.Create((byte)0x0F);
        return Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(mins), Vector256.Load(bsums));
    }
}

/// <summary>
/// Q3_K: 32 bytes of high bits (weight e: bit e / 32 of byte e % 32), 64 bytes of low 2 bits laid out as Q2_K's, 12
/// bytes of sixteen 6-bit scales (offset 32), f16 d; value = d x (scale - 32) x (q - 4), q = low + 4 x high.
/// </summary>
internal readonly unsafe struct Q3KBlock : IKSuperBlock
{
    public static int Bytes => 110;
    public static float D(byte* blk) => Fp16.ToSingle(*(ushort*)(blk + 108));
    public static bool HasMins => false;
    public static float Dmin(byte* blk) => 0;
    public static int Min(byte* blk, int j) => 0;

    public static int Quant(byte* blk, int e) =>
        ((blk[32 + 32 * (e / 128) + e % 32] >> (2 * (e % 128 / 32))) & 3) - (((blk[e % 32] >> (e / 32)) & 1) != 0 ? 0 : 4);

    public static int Scale(byte* blk, int e) => ReferenceQuant.ScaleQ3K(e / 16, new ReadOnlySpan<byte>(blk + 96, 12));

    /// <summary>The sixteen scales less 32, decoded from their 12 bytes four at a time as ggml does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static KBlockState Prepare(byte* blk)
    {
        const uint low = 0x0f0f0f0f, two = 0x03030303;
        uint a0 = *(uint*)(blk + 96), a1 = *(uint*)(blk + 100), a2 = *(uint*)(blk + 104);
        var scales = Vector128.Create(
            (a0 & low) | ((a2 & two) << 4),
            (a1 & low) | (((a2 >> 2) & two) << 4),
            ((a0 >> 4) & low) | (((a2 >> 4) & two) << 4),
            ((a1 >> 4) & low) | (((a2 >> 6) & two) << 4)).AsSByte() - Vector128.Create((sbyte)32);
        return new() { Scales = scales, Extra = Vector256.Load(blk) };
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Group(byte* blk, in KBlockState state, int g)
    {
        var three = Vector256.Create((byte)3);
        var low = Vector256.ShiftRightLogical(Vector256.Load(blk + 32 + 32 * (g >> 2)).AsUInt16(), 2 * (g & 3)).AsByte() & three;
        var high = Vector256.ShiftRightLogical(state.Extra.AsUInt16(), g).AsByte() & Vector256<byte>.One;
        return low | Vector256.ShiftLeft(high.AsUInt16(), 2).AsByte();
    }

    /// <summary>(low + 4 high) x x in pairs, less 4 x x in pairs: the exact products of q - 4.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> Products(Vector256<byte> w, Vector256<sbyte> x) =>
        Avx2.MultiplyAddAdjacent(w, x) - Avx2.MultiplyAddAdjacent(Vector256.Create((byte)4), x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> GroupScales(in KBlockState state, int g) => KQuantDot.Q6KScalePair(state.Scales, g);

    public static Vector256<int> MinLanes(byte* blk, short* bsums) => default;
}

/// <summary>
/// IQ4_XS: f16 d, u16 high scale bits, 4 bytes of low scale nibbles, then eight IQ4_NL-style blocks of 16 bytes of
/// nibbles (element j low, j + 16 high); value = d x (scale - 32) x level[q] with ggml's 16 non-uniform levels.
/// </summary>
internal readonly unsafe struct IQ4XSBlock : IKSuperBlock
{
    public static int Bytes => 136;
    public static float D(byte* blk) => Fp16.ToSingle(*(ushort*)blk);
    public static bool HasMins => false;
    public static float Dmin(byte* blk) => 0;
    public static int Min(byte* blk, int j) => 0;

    public static int Quant(byte* blk, int e)
    {
        var j = e % 32;
        int packed = blk[8 + 16 * (e / 32) + j % 16];
        return ReferenceQuant.IQ4NLValues[j < 16 ? packed & 0xF : packed >> 4];
    }

    public static int Scale(byte* blk, int e) => ReferenceQuant.ScaleIQ4XS(e / 32, new ReadOnlySpan<byte>(blk, 136));

    /// <summary>The eight block scales less 32 (bytes 0..7), and the level table in both lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static KBlockState Prepare(byte* blk)
    {
        var low = *(uint*)(blk + 4);
        ulong high = *(ushort*)(blk + 2);
        // Nibble ib of the low scales, bits 2ib of the high ones: spread to one byte per block.
        var lows = (ulong)(low & 0x0F0F0F0F) | ((ulong)((low >> 4) & 0x0F0F0F0F) << 32);
        var nibbles = Vector128.Create(lows, 0).AsByte();
        nibbles = Ssse3.Shuffle(nibbles, Vector128.Create((byte)0, 4, 1, 5, 2, 6, 3, 7, 8, 8, 8, 8, 8, 8, 8, 8));
        var highs = Bmi2.X64.IsSupported
            ? Bmi2.X64.ParallelBitDeposit(high, 0x0303030303030303UL)
            : SpreadPairs(high);
        var scales = (nibbles | (Vector128.Create(highs, 0).AsByte() << 4)).AsSByte() - Vector128.Create((sbyte)32);
        return new() { Scales = scales, Extra = Vector256.Create(Vector128.Create((ReadOnlySpan<sbyte>)ReferenceQuant.IQ4NLValues)).AsByte() };
    }

    private static ulong SpreadPairs(ulong bits)
    {
        ulong r = 0;
        for (var i = 0; i < 8; i++)
            r |= ((bits >> (2 * i)) & 3) << (8 * i);
        return r;
    }

    /// <summary>Block g's 32 levels, signed, in element order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Group(byte* blk, in KBlockState state, int g)
    {
        var raw = Vector128.Load(blk + 8 + 16 * g);
        var nibbles = Vector256.Create(raw, Vector128.ShiftRightLogical(raw.AsUInt16(), 4).AsByte()) & Vector256.Create((byte)0x0F);
        return Avx2.Shuffle(state.Extra, nibbles);
    }

    /// <summary>Signed levels times signed activations in pairs: |level| x (x with the level's sign).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> Products(Vector256<byte> w, Vector256<sbyte> x) =>
        Avx2.MultiplyAddAdjacent(Avx2.Abs(w.AsSByte()), Avx2.Sign(x, w.AsSByte()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> GroupScales(in KBlockState state, int g) =>
        Avx2.ConvertToVector256Int16(Ssse3.Shuffle(state.Scales, Vector128.Create((sbyte)g)));

    public static Vector256<int> MinLanes(byte* blk, short* bsums) => default;
}
