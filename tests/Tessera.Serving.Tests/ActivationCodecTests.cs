using Tessera.Serving;
using Tessera.Serving.Protocol;

namespace Tessera.Serving.Tests;

public sealed class ActivationCodecTests
{
    private static float[] Values(int rows, int width)
    {
        var random = new Random(7);
        var values = new float[rows * width];
        for (var i = 0; i < values.Length; i++)
            values[i] = (float)(random.NextDouble() * 8 - 4);
        values[3] = 0;
        return values;
    }

    [Fact]
    public void F32_RoundTrip_IsExact()
    {
        var values = Values(3, 64);
        var bytes = ActivationCodec.Encode(ActivationFormat.F32, values, 64);
        var back = new float[values.Length];
        ActivationCodec.Decode(ActivationFormat.F32, bytes, 64, back);
        Assert.Equal(values, back);
        Assert.Equal(3 * 64 * 4, bytes.Length);
    }

    [Fact]
    public void F16_RoundTrip_IsWithinHalfPrecision()
    {
        var values = Values(3, 64);
        var bytes = ActivationCodec.Encode(ActivationFormat.F16, values, 64);
        var back = new float[values.Length];
        ActivationCodec.Decode(ActivationFormat.F16, bytes, 64, back);
        Assert.Equal(3 * 64 * 2, bytes.Length);
        for (var i = 0; i < values.Length; i++)
            Assert.Equal((float)(Half)values[i], back[i]);
    }

    [Fact]
    public void Q8_RoundTrip_IsWithinHalfAStepPerRow()
    {
        var values = Values(4, 64);
        values.AsSpan(64, 64).Clear(); // an all-zero row has scale 0
        var bytes = ActivationCodec.Encode(ActivationFormat.Q8, values, 64);
        var back = new float[values.Length];
        ActivationCodec.Decode(ActivationFormat.Q8, bytes, 64, back);
        Assert.Equal(4 * (64 + 4), bytes.Length);
        for (var r = 0; r < 4; r++)
        {
            var row = values.AsSpan(r * 64, 64);
            var step = Math.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(row)) / 127f;
            for (var i = 0; i < 64; i++)
                Assert.InRange(Math.Abs(back[r * 64 + i] - row[i]), 0, step / 2 + 1e-6f);
        }
    }

    [Fact]
    public void Decode_WithTheWrongLength_IsRefused()
    {
        var bytes = ActivationCodec.Encode(ActivationFormat.F16, Values(2, 64), 64);
        Assert.Throws<FormatException>(() => ActivationCodec.Decode(ActivationFormat.F16, bytes, 64, new float[3 * 64]));
    }

    [Theory]
    [InlineData("f16", ActivationFormat.F16)]
    [InlineData("F32", ActivationFormat.F32)]
    [InlineData("q8", ActivationFormat.Q8)]
    public void Parse_KnowsTheFormats(string text, ActivationFormat expected) => Assert.Equal(expected, ActivationFormats.Parse(text));

    [Fact]
    public void Parse_RejectsOthers() => Assert.Throws<FormatException>(() => ActivationFormats.Parse("bf16"));
}
