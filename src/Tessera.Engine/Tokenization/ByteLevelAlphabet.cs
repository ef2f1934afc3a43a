namespace Tessera.Engine.Tokenization;

/// <summary>
/// GPT-2's reversible mapping between bytes and printable code points: printable Latin-1 bytes map to themselves,
/// the other 68 bytes to U+0100 onwards in byte order (so a space is 'Ġ' and a newline 'Ċ').
/// </summary>
internal static class ByteLevelAlphabet
{
    /// <summary>The character standing for each byte.</summary>
    public static readonly char[] ByteToChar = BuildByteToChar();

    /// <summary>The byte each character stands for, or -1; indexed by character up to U+0143.</summary>
    private static readonly short[] CharToByteTable = BuildCharToByte();

    public static int CharToByte(int c) => (uint)c < (uint)CharToByteTable.Length ? CharToByteTable[c] : -1;

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= 0x21 and <= 0x7E or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            map[b] = printable ? (char)b : (char)next++;
        }
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var table = new short[0x144];
        Array.Fill(table, (short)-1);
        for (var b = 0; b < 256; b++)
            table[ByteToChar[b]] = (short)b;
        return table;
    }
}
