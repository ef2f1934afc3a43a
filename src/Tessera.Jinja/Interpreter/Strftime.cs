using System.Globalization;
using System.Text;

namespace Tessera.Jinja;

/// <summary>Python's <c>strftime</c> in the C locale, for <c>strftime_now</c>; <c>%-d</c> style drops padding as glibc does.</summary>
internal static class Strftime
{
    private static readonly string[] DayNames = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

    private static readonly string[] MonthNames =
        ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];

    public static string Format(DateTimeOffset time, string format)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c != '%' || i + 1 >= format.Length)
            {
                sb.Append(c);
                continue;
            }
            var spec = format[++i];
            var unpadded = false;
            if (spec == '-' && i + 1 < format.Length)
            {
                unpadded = true;
                spec = format[++i];
            }
            string Number(int value, int width) =>
                unpadded ? value.ToString(CultureInfo.InvariantCulture) : value.ToString(new string('0', width), CultureInfo.InvariantCulture);
            var hour12 = time.Hour % 12 == 0 ? 12 : time.Hour % 12;
            sb.Append(spec switch
            {
                'a' => DayNames[(int)time.DayOfWeek][..3],
                'A' => DayNames[(int)time.DayOfWeek],
                'b' or 'h' => MonthNames[time.Month - 1][..3],
                'B' => MonthNames[time.Month - 1],
                'd' => Number(time.Day, 2),
                'e' => time.Day.ToString(CultureInfo.InvariantCulture).PadLeft(2),
                'm' => Number(time.Month, 2),
                'y' => Number(time.Year % 100, 2),
                'Y' => time.Year.ToString(CultureInfo.InvariantCulture),
                'H' => Number(time.Hour, 2),
                'I' => Number(hour12, 2),
                'M' => Number(time.Minute, 2),
                'S' => Number(time.Second, 2),
                'f' => (time.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", CultureInfo.InvariantCulture),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'j' => Number(time.DayOfYear, 3),
                'w' => ((int)time.DayOfWeek).ToString(CultureInfo.InvariantCulture),
                'z' => (time.Offset < TimeSpan.Zero ? "-" : "+") + time.Offset.ToString("hhmm", CultureInfo.InvariantCulture),
                'F' => time.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
                'T' => time.ToString("HH:mm:ss", CultureInfo.InvariantCulture),
                '%' => "%",
                _ => "%" + (unpadded ? "-" : "") + spec,
            });
        }
        return sb.ToString();
    }
}
