using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Tessera.Serving.Protocol;

namespace Tessera.Serving;

/// <summary>
/// Encodes hidden states for the wire between stages. f32 is exact; f16 halves the bytes (values round to
/// half precision, about 3 significant digits); q8 quarters them: per row (one token's hidden state) an f32
/// scale, max |x| / 127, then one signed byte per value.
/// </summary>
public static class ActivationCodec
{
    /// <summary>Bytes <paramref name="rows"/> rows of <paramref name="rowLength"/> values take in <paramref name="format"/>.</summary>
    public static long EncodedLength(ActivationFormat format, long rows, int rowLength) => format switch
    {
        ActivationFormat.F32 => rows * rowLength * sizeof(float),
        ActivationFormat.F16 => rows * rowLength * 2,
        ActivationFormat.Q8 => rows * (rowLength + sizeof(float)),
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown activation format."),
    };

    public static byte[] Encode(ActivationFormat format, ReadOnlySpan<float> values, int rowLength)
    {
        if (rowLength <= 0 || values.Length % rowLength != 0)
            throw new ArgumentException($"{values.Length} values are not whole rows of {rowLength}.", nameof(values));
        var rows = values.Length / rowLength;
        var bytes = new byte[checked((int)EncodedLength(format, rows, rowLength))];
        switch (format)
        {
            case ActivationFormat.F32:
                MemoryMarshal.AsBytes(values).CopyTo(bytes);
                break;
            case ActivationFormat.F16:
                TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<byte, Half>(bytes.AsSpan()));
                break;
            case ActivationFormat.Q8:
                for (var r = 0; r < rows; r++)
                {
                    var row = values.Slice(r * rowLength, rowLength);
                    var block = bytes.AsSpan(r * (rowLength + sizeof(float)), rowLength + sizeof(float));
                    var max = TensorPrimitives.MaxMagnitude(row);
                    var scale = Math.Abs(max) / 127f;
                    BinaryPrimitives.WriteSingleLittleEndian(block, scale);
                    var q = MemoryMarshal.Cast<byte, sbyte>(block[sizeof(float)..]);
                    var inverse = scale > 0 ? 1f / scale : 0f;
                    for (var i = 0; i < row.Length; i++)
                        q[i] = (sbyte)Math.Clamp(MathF.Round(row[i] * inverse), -127f, 127f);
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(format), format, "Unknown activation format.");
        }
        return bytes;
    }

    /// <summary>Decodes into <paramref name="output"/>, whose length says how many values are expected.</summary>
    /// <exception cref="FormatException">The bytes do not hold that many values in <paramref name="format"/>.</exception>
    public static void Decode(ActivationFormat format, ReadOnlySpan<byte> bytes, int rowLength, Span<float> output)
    {
        if (rowLength <= 0 || output.Length % rowLength != 0)
            throw new ArgumentException($"{output.Length} values are not whole rows of {rowLength}.", nameof(output));
        var rows = output.Length / rowLength;
        var expected = format is ActivationFormat.F32 or ActivationFormat.F16 or ActivationFormat.Q8 ? EncodedLength(format, rows, rowLength) : -1;
        if (bytes.Length != expected)
            throw new FormatException($"Activations hold {bytes.Length} bytes; {rows} rows of {rowLength} in {format} need {expected}.");
        switch (format)
        {
            case ActivationFormat.F32:
                MemoryMarshal.Cast<byte, float>(bytes).CopyTo(output);
                break;
            case ActivationFormat.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(bytes), output);
                break;
            case ActivationFormat.Q8:
                for (var r = 0; r < rows; r++)
                {
                    var block = bytes.Slice(r * (rowLength + sizeof(float)), rowLength + sizeof(float));
                    var scale = BinaryPrimitives.ReadSingleLittleEndian(block);
                    var q = MemoryMarshal.Cast<byte, sbyte>(block[sizeof(float)..]);
                    var row = output.Slice(r * rowLength, rowLength);
                    for (var i = 0; i < row.Length; i++)
                        row[i] = q[i] * scale;
                }
                break;
        }
    }
}
