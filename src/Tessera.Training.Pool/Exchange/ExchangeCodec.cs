using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Tessera.Engine.Kernels;
using Tessera.Engine.Tensors;

namespace Tessera.Training.Pool.Exchange;

/// <summary>How a parameter change travels: f32 (4 bytes a parameter), f16 (2) or int8 with an f16 scale a block of 32 (Q8_0, 34 bytes a block).</summary>
public enum ExchangeFormat
{
    F32,
    F16,
    Int8,
}

/// <summary>Encodes float vectors (or slices of them) into an <see cref="ExchangeFormat"/> and back.</summary>
public static class ExchangeCodec
{
    /// <summary>Parameters a block of int8 holds; chunks of a vector are cut on multiples of it so every format can encode them.</summary>
    public const int BlockSize = 32;

    public static ExchangeFormat Parse(string text) => text.ToLowerInvariant() switch
    {
        "f32" => ExchangeFormat.F32,
        "f16" => ExchangeFormat.F16,
        "int8" or "q8_0" => ExchangeFormat.Int8,
        _ => throw new ArgumentException($"Unknown exchange format {text}: f32, f16 or int8.", nameof(text)),
    };

    public static string Name(ExchangeFormat format) => format.ToString().ToLowerInvariant();

    /// <summary>Bytes <paramref name="count"/> parameters take (for int8 a whole number of blocks).</summary>
    public static int EncodedLength(ExchangeFormat format, int count) => format switch
    {
        ExchangeFormat.F32 => checked(count * 4),
        ExchangeFormat.F16 => checked(count * 2),
        ExchangeFormat.Int8 => count % BlockSize == 0
            ? checked(count / BlockSize * GgmlTypeInfo.TypeSize(GgmlType.Q8_0))
            : throw new ArgumentException($"int8 encodes whole blocks of {BlockSize} parameters; {count} is not.", nameof(count)),
        _ => throw new ArgumentOutOfRangeException(nameof(format)),
    };

    public static void Encode(ExchangeFormat format, ReadOnlySpan<float> source, Span<byte> destination)
    {
        destination = destination[..EncodedLength(format, source.Length)];
        switch (format)
        {
            case ExchangeFormat.F32: MemoryMarshal.AsBytes(source).CopyTo(destination); break;
            case ExchangeFormat.F16: TensorPrimitives.ConvertToHalf(source, MemoryMarshal.Cast<byte, Half>(destination)); break;
            default: ReferenceQuant.Quantize(GgmlType.Q8_0, source, destination); break;
        }
    }

    public static void Decode(ExchangeFormat format, ReadOnlySpan<byte> source, Span<float> destination)
    {
        source = source[..EncodedLength(format, destination.Length)];
        switch (format)
        {
            case ExchangeFormat.F32: MemoryMarshal.Cast<byte, float>(source).CopyTo(destination); break;
            case ExchangeFormat.F16: TensorPrimitives.ConvertToSingle(MemoryMarshal.Cast<byte, Half>(source), destination); break;
            default: ReferenceQuant.Dequantize(GgmlType.Q8_0, source, destination); break;
        }
    }

    /// <summary>Adds the decoded <paramref name="source"/> to <paramref name="sum"/>, using <paramref name="scratch"/> (as long as <paramref name="sum"/>).</summary>
    public static void DecodeAdd(ExchangeFormat format, ReadOnlySpan<byte> source, Span<float> sum, Span<float> scratch)
    {
        scratch = scratch[..sum.Length];
        Decode(format, source, scratch);
        TensorPrimitives.Add(sum, scratch, sum);
    }

    /// <summary>
    /// Part <paramref name="index"/> of <paramref name="parts"/> near-equal parts of a vector of <paramref name="count"/>,
    /// cut on multiples of <see cref="BlockSize"/> (the last part takes any remainder).
    /// </summary>
    public static (int Start, int Length) Chunk(int count, int parts, int index)
    {
        var blocks = ((long)count + BlockSize - 1) / BlockSize;
        var start = Math.Min(count, blocks * index / parts * BlockSize);
        var end = Math.Min(count, blocks * (index + 1) / parts * BlockSize);
        return ((int)start, (int)(end - start));
    }
}
