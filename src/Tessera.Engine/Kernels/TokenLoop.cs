namespace Tessera.Engine.Kernels;

/// <summary>The four-token form of a one-token kernel where no tile shares work between the tokens: the same arithmetic per token.</summary>
internal static unsafe class TokenLoop
{
    public static void Four(delegate*<byte*, byte*, int, float> one, byte* w, byte* act, nint actStride, int cols, float* y, nint yStride)
    {
        for (var t = 0; t < 4; t++)
            y[t * yStride] = one(w, act + t * actStride, cols);
    }
}
