using System.Globalization;
using System.Text;

namespace Tessera.Training.Pool;

/// <summary>One line of a chart: its legend name and its points in data coordinates.</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<(double X, double Y)> Points);

/// <summary>
/// Line charts as self-contained SVG (no scripts, fonts or files outside it) for the plots training reports make, such as
/// loss against steps: axes with ticks at round numbers, one coloured polyline per series, a legend, every text escaped.
/// </summary>
public static class SvgLineChart
{
    /// <summary>The whole image's width in pixels.</summary>
    public const int Width = 760;

    /// <summary>The whole image's height in pixels.</summary>
    public const int Height = 420;

    private const double Left = 70, Top = 40, Bottom = 60;

    // Colour-blind-safe qualitative palette (Okabe and Ito), then a few more; a series past them reuses one dashed.
    private static readonly string[] Colours =
        ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442", "#7F3C8D", "#A5AA99"];

    /// <summary>
    /// Renders the series into one SVG document. Points that are not finite (and, with <paramref name="logX"/>, those at
    /// X ≤ 0) are left out; the axes span the remaining points, padded to round numbers.
    /// </summary>
    /// <param name="logX">A logarithmic x axis, ticks at powers of ten (for token counts or learning rates).</param>
    public static string Render(string title, string xLabel, string yLabel, IReadOnlyList<ChartSeries> series, bool logX = false)
    {
        ArgumentNullException.ThrowIfNull(title);
        ArgumentNullException.ThrowIfNull(xLabel);
        ArgumentNullException.ThrowIfNull(yLabel);
        ArgumentNullException.ThrowIfNull(series);
        var kept = series.Select(s => s.Points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!logX || p.X > 0)).ToArray()).ToArray();
        var all = kept.SelectMany(p => p).ToArray();
        Func<double, double> toAxis = logX ? Math.Log10 : x => x;
        var (xMin, xMax) = Span(all.Select(p => toAxis(p.X)));
        var (yMin, yMax) = Span(all.Select(p => p.Y));
        var yTicks = NiceTicks(yMin, yMax);
        (yMin, yMax) = (Math.Min(yMin, yTicks[0]), Math.Max(yMax, yTicks[^1]));
        double[] xTicks;
        if (logX)
        {
            (xMin, xMax) = (Math.Floor(xMin), Math.Ceiling(xMax));
            if (xMax == xMin) xMax = xMin + 1;
            xTicks = Enumerable.Range(0, (int)(xMax - xMin) + 1).Select(i => xMin + i).ToArray();
        }
        else
        {
            xTicks = NiceTicks(xMin, xMax);
            (xMin, xMax) = (Math.Min(xMin, xTicks[0]), Math.Max(xMax, xTicks[^1]));
        }

        // The legend's column takes what its longest name needs (about 7 pixels a character at this size), within bounds.
        var right = Math.Clamp(60 + 7 * series.Select(s => s.Name.Length).DefaultIfEmpty(0).Max(), 120, Width / 2);
        double plotWidth = Width - Left - right, plotHeight = Height - Top - Bottom;
        double X(double axisX) => Left + (axisX - xMin) / (xMax - xMin) * plotWidth;
        double Y(double y) => Top + plotHeight - (y - yMin) / (yMax - yMin) * plotHeight;

        var svg = new StringBuilder();
        svg.Append(Invariant($"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n"));
        svg.Append(Invariant($"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n"));
        svg.Append(Invariant($"<text x=\"{Left + plotWidth / 2}\" y=\"{Top / 2 + 6}\" text-anchor=\"middle\" font-size=\"15\">{Escape(title)}</text>\n"));
        svg.Append(Invariant($"<rect class=\"plot-area\" x=\"{Left}\" y=\"{Top}\" width=\"{plotWidth}\" height=\"{plotHeight}\" fill=\"none\" stroke=\"#333\"/>\n"));

        foreach (var t in yTicks)
        {
            var y = Y(t);
            svg.Append(Invariant($"<line x1=\"{Left}\" y1=\"{y:0.##}\" x2=\"{Left + plotWidth}\" y2=\"{y:0.##}\" stroke=\"#e4e4e4\"/>"));
            svg.Append(Invariant($"<text x=\"{Left - 6}\" y=\"{y + 4:0.##}\" text-anchor=\"end\">{Escape(Label(t, yTicks))}</text>\n"));
        }
        foreach (var t in xTicks)
        {
            var x = X(t);
            var label = logX ? Label(Math.Pow(10, t), []) : Label(t, xTicks);
            svg.Append(Invariant($"<line x1=\"{x:0.##}\" y1=\"{Top}\" x2=\"{x:0.##}\" y2=\"{Top + plotHeight}\" stroke=\"#e4e4e4\"/>"));
            svg.Append(Invariant($"<text x=\"{x:0.##}\" y=\"{Top + plotHeight + 16}\" text-anchor=\"middle\">{Escape(label)}</text>\n"));
        }
        svg.Append(Invariant($"<text x=\"{Left + plotWidth / 2}\" y=\"{Height - 16}\" text-anchor=\"middle\">{Escape(xLabel)}</text>\n"));
        svg.Append(Invariant($"<text x=\"18\" y=\"{Top + plotHeight / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {Top + plotHeight / 2})\">{Escape(yLabel)}</text>\n"));

        for (var i = 0; i < series.Count; i++)
        {
            var colour = Colours[i % Colours.Length];
            var dash = i >= Colours.Length ? " stroke-dasharray=\"6 3\"" : "";
            var points = string.Join(" ", kept[i].Select(p => Invariant($"{X(toAxis(p.X)):0.##},{Y(p.Y):0.##}")));
            svg.Append(Invariant($"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.8\"{dash} points=\"{points}\"><title>{Escape(series[i].Name)}</title></polyline>\n"));
            var legendY = Top + 10 + i * 20;
            var legendX = Left + plotWidth + 16;
            svg.Append(Invariant($"<line x1=\"{legendX}\" y1=\"{legendY}\" x2=\"{legendX + 24}\" y2=\"{legendY}\" stroke=\"{colour}\" stroke-width=\"2.5\"{dash}/>"));
            svg.Append(Invariant($"<text x=\"{legendX + 30}\" y=\"{legendY + 4}\">{Escape(series[i].Name)}</text>\n"));
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    /// <summary>Ticks at 1, 2 or 5 times a power of ten, about five of them, covering [min, max].</summary>
    internal static double[] NiceTicks(double min, double max)
    {
        var step = NiceNumber((max - min) / 5);
        var first = Math.Floor(min / step) * step;
        var last = Math.Ceiling(max / step) * step;
        var count = (int)Math.Round((last - first) / step) + 1;
        return Enumerable.Range(0, count).Select(i => first + i * step).ToArray();
    }

    private static double NiceNumber(double range)
    {
        var power = Math.Pow(10, Math.Floor(Math.Log10(range)));
        var fraction = range / power;
        return (fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10) * power; // the nearest of 1, 2, 5, 10
    }

    /// <summary>The data's smallest and largest value, widened when they are equal (or there is no data).</summary>
    private static (double Min, double Max) Span(IEnumerable<double> values)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var v in values) (min, max) = (Math.Min(min, v), Math.Max(max, v));
        if (min > max) return (0, 1);
        if (min == max)
        {
            var pad = min == 0 ? 1 : Math.Abs(min) * 0.1;
            return (min - pad, max + pad);
        }
        return (min, max);
    }

    /// <summary>A tick's text: as many decimals as the step between ticks needs, k/M/G/T for large values, exponents for tiny ones.</summary>
    private static string Label(double value, double[] ticks)
    {
        if (Math.Abs(value) < 1e-12 * (ticks.Length > 1 ? Math.Abs(ticks[1] - ticks[0]) : 1)) value = 0;
        var magnitude = Math.Abs(value);
        if (magnitude >= 1e3 && magnitude < 1e15)
        {
            // 200k, 1.2M, 10G: what tokens and bytes are read as.
            var (scale, suffix) = magnitude >= 1e12 ? (1e12, "T") : magnitude >= 1e9 ? (1e9, "G") : magnitude >= 1e6 ? (1e6, "M") : (1e3, "k");
            return (value / scale).ToString("0.##", CultureInfo.InvariantCulture) + suffix;
        }
        if (magnitude != 0 && (magnitude >= 1e15 || magnitude < 1e-4)) return value.ToString("0.##E+0", CultureInfo.InvariantCulture);
        if (ticks.Length < 2) return value.ToString("G4", CultureInfo.InvariantCulture);
        var decimals = Math.Clamp((int)Math.Ceiling(-Math.Log10(Math.Abs(ticks[1] - ticks[0])) - 1e-9), 0, 6);
        return value.ToString("F" + decimals, CultureInfo.InvariantCulture);
    }

    /// <summary>Text as XML character data: markup characters escaped, control characters (not allowed in XML) dropped.</summary>
    private static string Escape(string text) =>
        new string(text.Where(c => c >= ' ' || c is '\t' or '\n').ToArray()).Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
            .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal);

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
