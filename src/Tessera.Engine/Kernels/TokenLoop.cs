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
}
