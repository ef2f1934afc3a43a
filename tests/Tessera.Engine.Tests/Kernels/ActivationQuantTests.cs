using Tessera.Engine.Kernels;

namespace Tessera.Engine.Tests.Kernels;

public unsafe class ActivationQuantTests
{
    /// <summary>
    /// The vectorized Q8_0 activation layout must be byte for byte the portable one: the kernels' bit-identity across
    /// paths and the agreement with llama.cpp both rest on it. Includes blocks of zeros, one-hot blocks, values exactly
    /// halfway between two quants (round half to even) and a remainder of blocks that are not a whole quad.
    /// </summary>
    [Theory]
    [InlineData(2048, 1)]
    [InlineData(5632, 2)]
    [InlineData(160, 3)]
    [InlineData(96, 4)]
    public void VectorizedQ8_0_EqualsThePortableLayout_ByteForByte(int cols, int seed)
    {
        var x = KernelTestData.Random(cols, seed);
        for (var i = 0; i < Math.Min(32, cols); i++)
            x[i] = 0; // a zero block
        if (cols >= 64)
        {
            for (var i = 32; i < 64; i++)
                x[i] = i == 40 ? -3.5f : 0; // one non-zero value
        }
        if (cols >= 96)
        {
            // scale 1 (largest 127), every other value halfway between two quants: rounds half to even
            x[64] = 127;
            for (var i = 65; i < 96; i++)
                x[i] = i - 80 + 0.5f;
        }
        var stride = (int)ActivationQuant.Q8_0Stride(cols);
        var fast = new byte[stride];
        var portable = new byte[stride];
        fixed (float* xp = x)
        fixed (byte* f = fast)
        fixed (byte* p = portable)
        {
            ActivationQuant.QuantizeQ8_0(xp, cols, f);
            ActivationQuant.QuantizeQ8_0Scalar(xp, cols, p);
        }
        Assert.Equal(portable, fast);
        Assert.Contains(fast, b => b != 0);
    }
}
