namespace Tessera.Engine.Kernels;

/// <summary>The four-token form of a one-token kernel where no tile shares work between the tokens: the same arithmetic per token.</summary>
internal static unsafe class TokenLoop
{
    public static void Four(delegate*<byte*, byte*, int, float> one, byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        for (var t = 0; t < 4; t++)
            y[t * yStride] = one(w, act + t * actStride, cols);
    }

    /// <summary>Groups of eight rows (<paramref name="groupBytes"/> apart) against any number of tokens, one group and token at a time.</summary>
    public static void Groups(delegate*<byte*, byte*, int, float*, void> gemv8, byte* group, nint groupBytes, int groups, byte* act, nint actStride,
        int tokens, int cols, float* y, nint yStride)
    {
        for (var i = 0; i < groups; i++)
        {
            for (var t = 0; t < tokens; t++)
                gemv8(group + i * groupBytes, act + t * actStride, cols, y + t * yStride + i * 8);
        }
    }

    /// <summary>
    /// Walks <paramref name="rows"/> rows (a multiple of 8) of <paramref name="nb"/> blocks of <paramref name="blockBytes"/>
    /// into a layout grouped eight rows at a time: <paramref name="regroup"/> gets row 0's block b of a group (the other
    /// rows a row apart), the row's bytes, and where the group's block b goes (eight blocks' bytes, in place).
    /// </summary>
    public static void Regroup(byte* source, byte* destination, int rows, int nb, int blockBytes, delegate*<byte*, nint, byte*, void> regroup)
    {
        var rowBytes = (nint)nb * blockBytes;
        for (var g = 0; g < rows / 8; g++)
        {
            var src = source + g * 8 * rowBytes;
            var dst = destination + g * 8 * rowBytes;
            for (var b = 0; b < nb; b++)
                regroup(src + b * blockBytes, rowBytes, dst + b * 8 * blockBytes);
        }
    }
}
