using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Tessera.Training;

/// <summary>How a parameter change travels between workers and the coordinator.</summary>
public enum DeltaCompression
{
    /// <summary>4 bytes per value, exact.</summary>
    F32 = 0,
    /// <summary>IEEE half precision, 2 bytes per value.</summary>
    F16 = 1,
    /// <summary>Blocks of <see cref="DeltaCodec.Int8BlockSize"/> values as signed bytes sharing one f32 scale (max |x| / 127): 1.06 bytes per value.</summary>
    Int8 = 2,
}

/// <summary>
/// Encodes and decodes a float vector (a parameter change) with a <see cref="DeltaCompression"/>. Decoding is a pure
/// function of the bytes, so the coordinator and every worker that apply the same encoded change reach bitwise the same
/// parameters.
/// </summary>
public static class DeltaCodec
{
    /// <summary>Values per int8 block: small enough that one outlier costs little precision elsewhere.</summary>
    public const int Int8BlockSize = 64;

    /// <summary>The encoded size of <paramref name="count"/> values.</summary>
    public static long EncodedSize(DeltaCompression compression, int count) => compression switch
    {
        DeltaCompression.F32 => 4L * count,
        DeltaCompression.F16 => 2L * count,
        DeltaCompression.Int8 => count + 4L * ((count + Int8BlockSize - 1) / Int8BlockSize),
        _ => throw new ArgumentOutOfRangeException(nameof(compression)),
    };

    /// <summary>Parses "f32", "f16" or "int8".</summary>
    public static DeltaCompression Parse(string text) => text.Trim().ToLowerInvariant() switch
    {
        "f32" or "none" => DeltaCompression.F32,
        "f16" or "fp16" or "half" => DeltaCompression.F16,
        "int8" or "i8" or "q8" => DeltaCompression.Int8,
        _ => throw new FormatException($"Unknown compression '{text}': use f32, f16 or int8."),
    };

    /// <summary>Encodes <paramref name="values"/>; int8 stores per block its scale (f32) then its bytes.</summary>
    public static byte[] Encode(ReadOnlySpan<float> values, DeltaCompression compression)
    {
        var output = new byte[EncodedSize(compression, values.Length)];
        Encode(values, compression, output);
        return output;
    }

    /// <summary>Encodes <paramref name="values"/> into the first <see cref="EncodedSize"/> bytes of <paramref name="destination"/>.</summary>
    public static void Encode(ReadOnlySpan<float> values, DeltaCompression compression, Span<byte> destination)
    {
        var o = destination[..checked((int)EncodedSize(compression, values.Length))];
        switch (compression)
        {
            case DeltaCompression.F32:
                MemoryMarshal.AsBytes(values).CopyTo(o); // every supported machine is little-endian
                break;
            case DeltaCompression.F16:
                TensorPrimitives.ConvertToHalf(values, MemoryMarshal.Cast<byte, Half>(o));
                break;
            case DeltaCompression.Int8:
                var at = 0;
                for (var start = 0; start < values.Length; start += Int8BlockSize)
                {
                    var block = values.Slice(start, Math.Min(Int8BlockSize, values.Length - start));
                    var scale = TensorPrimitives.MaxMagnitude(block) is var m && float.IsFinite(m) ? MathF.Abs(m) / 127f : float.NaN;
                    BinaryPrimitives.WriteSingleLittleEndian(o[at..], scale);
                    at += 4;
                    var inverse = scale > 0f ? 1f / scale : 0f;
                    foreach (var v in block) o[at++] = (byte)(sbyte)Math.Clamp(MathF.Round(v * inverse), -127f, 127f);
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(compression));
        }
    }

    /// <summary>Decodes <paramref name="encoded"/> into <paramref name="values"/>; throws <see cref="FormatException"/> when the length does not fit.</summary>
    public static void Decode(ReadOnlySpan<byte> encoded, DeltaCompression compression, Span<float> values)
    {
        if (encoded.Length != EncodedSize(compression, values.Length))
            throw new FormatException($"A {compression} change of {values.Length} values takes {EncodedSize(compression, values.Length)} bytes, not {encoded.Length}.");
        switch (compression)
        {
            case DeltaCompression.F32:
                MemoryMarshal.Cast<byte, float>(encoded).CopyTo(values);
                break;
            case DeltaCompression.F16:
                TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(encoded), values);
                break;
            case DeltaCompression.Int8:
                var at = 0;
                for (var start = 0; start < values.Length; start += Int8BlockSize)
                {
                    var count = Math.Min(Int8BlockSize, values.Length - start);
                    var scale = BinaryPrimitives.ReadSingleLittleEndian(encoded[at..]);
                    at += 4;
                    for (var i = 0; i < count; i++) values[start + i] = (sbyte)encoded[at++] * scale;
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(compression));
        }
    }
}
