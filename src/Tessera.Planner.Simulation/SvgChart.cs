using System.Globalization;
using System.Text;

namespace Tessera.Planner.Simulation;

/// <summary>One named series of a chart: a value per category (NaN: no value, e.g. the model does not fit).</summary>
public sealed record ChartSeries(string Name, IReadOnlyList<double> Values);

/// <summary>
/// A small SVG writer for line and grouped bar charts: axes, ticks, labels, a legend. Hand-written so the library
/// stays free of dependencies; returns text (the caller writes the file). Numbers are written with the invariant
/// culture, so the same data gives the same bytes.
/// </summary>
public static class SvgChart
{
    private const int Width = 720, Height = 420, Left = 80, Right = 170, Top = 40, Bottom = 60;
    private static readonly string[] Colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];

    /// <summary>
    /// Lines over categories evenly spaced on x (pool sizes 10, 100, 1000 read as a log axis when they grow tenfold);
    /// y is logarithmic when <paramref name="logY"/> (values at or below 0 are left out), else linear from 0.
    /// </summary>
    public static string Line(string title, string xLabel, string yLabel, IReadOnlyList<string> categories, IReadOnlyList<ChartSeries> series, bool logY)
    {
        var (min, max) = Range(series, logY);
        var sb = Begin(title, xLabel, yLabel);
        YAxis(sb, min, max, logY);
        XCategories(sb, categories, barGroups: false);
        for (var s = 0; s < series.Count; s++)
        {
            var points = new StringBuilder();
            var color = Colors[s % Colors.Length];
            for (var i = 0; i < categories.Count && i < series[s].Values.Count; i++)
            {
                var v = series[s].Values[i];
                if (!Plottable(v, logY))
                    continue;
                var x = CategoryX(i, categories.Count, barGroups: false);
                var y = ValueY(v, min, max, logY);
                points.Append(F(x)).Append(',').Append(F(y)).Append(' ');
                sb.Append("  <circle cx=\"").Append(F(x)).Append("\" cy=\"").Append(F(y)).Append("\" r=\"3.5\" fill=\"").Append(color).Append("\"><title>")
                    .Append(Escape(series[s].Name)).Append(": ").Append(Escape(Number(v))).AppendLine("</title></circle>");
            }
            if (points.Length > 0)
            {
                sb.Append("  <polyline class=\"series\" data-series=\"").Append(Escape(series[s].Name)).Append("\" fill=\"none\" stroke=\"").Append(color)
                    .Append("\" stroke-width=\"2\" points=\"").Append(points.ToString().TrimEnd()).AppendLine("\"/>");
            }
        }
        Legend(sb, series);
        return End(sb);
    }

    /// <summary>Bars grouped by category, one bar per series, y linear from 0 (or logarithmic).</summary>
    public static string Bars(string title, string xLabel, string yLabel, IReadOnlyList<string> categories, IReadOnlyList<ChartSeries> series, bool logY = false)
    {
        var (min, max) = Range(series, logY);
        var sb = Begin(title, xLabel, yLabel);
        YAxis(sb, min, max, logY);
        XCategories(sb, categories, barGroups: true);
        var group = (Width - Left - Right) / (double)Math.Max(1, categories.Count);
        var bar = group * 0.8 / Math.Max(1, series.Count);
        var baseY = logY ? Height - Bottom : ValueY(0, min, max, false);
        for (var s = 0; s < series.Count; s++)
        {
            var color = Colors[s % Colors.Length];
            for (var i = 0; i < categories.Count && i < series[s].Values.Count; i++)
            {
                var v = series[s].Values[i];
                if (!Plottable(v, logY))
                    continue;
                var x = Left + i * group + group * 0.1 + s * bar;
                var y = ValueY(v, min, max, logY);
                sb.Append("  <rect class=\"series\" data-series=\"").Append(Escape(series[s].Name)).Append("\" x=\"").Append(F(x)).Append("\" y=\"").Append(F(Math.Min(y, baseY)))
                    .Append("\" width=\"").Append(F(bar * 0.9)).Append("\" height=\"").Append(F(Math.Abs(baseY - y))).Append("\" fill=\"").Append(color).Append("\"><title>")
                    .Append(Escape(series[s].Name)).Append(", ").Append(Escape(categories[i])).Append(": ").Append(Escape(Number(v))).AppendLine("</title></rect>");
            }
        }
        Legend(sb, series);
        return End(sb);
    }

    private static bool Plottable(double v, bool logY) => double.IsFinite(v) && (!logY || v > 0);

    private static (double Min, double Max) Range(IReadOnlyList<ChartSeries> series, bool logY)
    {
        double min = double.PositiveInfinity, max = double.NegativeInfinity;
        foreach (var s in series)
        {
            foreach (var v in s.Values)
            {
                if (!Plottable(v, logY))
                    continue;
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }
        }
        if (double.IsPositiveInfinity(min))
            return logY ? (1, 10) : (0, 1);
        if (logY)
            return (Math.Pow(10, Math.Floor(Math.Log10(min))), Math.Pow(10, Math.Ceiling(Math.Log10(max) + 1e-9)));
        var top = NiceCeiling(Math.Max(max, 0));
        return (Math.Min(0, min), top > 0 ? top : 1);
    }

    private static double NiceCeiling(double v)
    {
        if (v <= 0)
            return 0;
        var magnitude = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (var step in (double[])[1, 2, 2.5, 5, 10])
        {
            if (step * magnitude >= v)
                return step * magnitude;
        }
        return 10 * magnitude;
    }

    private static double ValueY(double v, double min, double max, bool logY)
    {
        var fraction = logY ? (Math.Log10(v) - Math.Log10(min)) / (Math.Log10(max) - Math.Log10(min)) : (v - min) / (max - min);
        return Height - Bottom - fraction * (Height - Top - Bottom);
    }

    private static double CategoryX(int i, int count, bool barGroups)
    {
        var span = Width - Left - Right;
        if (barGroups)
            return Left + (i + 0.5) * span / Math.Max(1, count);
        return count == 1 ? Left + span / 2.0 : Left + 20 + i * (span - 40) / (double)(count - 1);
    }

    private static StringBuilder Begin(string title, string xLabel, string yLabel)
    {
        var sb = new StringBuilder();
        sb.Append("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"").Append(Width).Append("\" height=\"").Append(Height)
            .Append("\" viewBox=\"0 0 ").Append(Width).Append(' ').Append(Height).AppendLine("\" font-family=\"sans-serif\" font-size=\"12\">");
        sb.Append("  <title>").Append(Escape(title)).AppendLine("</title>");
        sb.Append("  <rect width=\"").Append(Width).Append("\" height=\"").Append(Height).AppendLine("\" fill=\"white\"/>");
        sb.Append("  <text x=\"").Append(Width / 2).Append("\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">").Append(Escape(title)).AppendLine("</text>");
        sb.Append("  <text x=\"").Append(F(Left + (Width - Left - Right) / 2.0)).Append("\" y=\"").Append(Height - 15).Append("\" text-anchor=\"middle\">").Append(Escape(xLabel)).AppendLine("</text>");
        sb.Append("  <text transform=\"translate(18,").Append(F(Top + (Height - Top - Bottom) / 2.0)).Append(") rotate(-90)\" text-anchor=\"middle\">").Append(Escape(yLabel)).AppendLine("</text>");
        sb.Append("  <line x1=\"").Append(Left).Append("\" y1=\"").Append(Height - Bottom).Append("\" x2=\"").Append(Width - Right).Append("\" y2=\"").Append(Height - Bottom).AppendLine("\" stroke=\"black\"/>");
        sb.Append("  <line x1=\"").Append(Left).Append("\" y1=\"").Append(Top).Append("\" x2=\"").Append(Left).Append("\" y2=\"").Append(Height - Bottom).AppendLine("\" stroke=\"black\"/>");
        return sb;
    }

    private static void YAxis(StringBuilder sb, double min, double max, bool logY)
    {
        var ticks = new List<double>();
        if (logY)
        {
            for (var v = min; v <= max * 1.0001; v *= 10)
                ticks.Add(v);
        }
        else
        {
            for (var i = 0; i <= 5; i++)
                ticks.Add(min + i * (max - min) / 5);
        }
        foreach (var t in ticks)
        {
            var y = F(ValueY(t, min, max, logY));
            sb.Append("  <line x1=\"").Append(Left).Append("\" y1=\"").Append(y).Append("\" x2=\"").Append(Width - Right).Append("\" y2=\"").Append(y).AppendLine("\" stroke=\"#ddd\"/>");
            sb.Append("  <text x=\"").Append(Left - 6).Append("\" y=\"").Append(y).Append("\" dy=\"4\" text-anchor=\"end\">").Append(Escape(Number(t))).AppendLine("</text>");
        }
    }

    private static void XCategories(StringBuilder sb, IReadOnlyList<string> categories, bool barGroups)
    {
        for (var i = 0; i < categories.Count; i++)
        {
            var x = F(CategoryX(i, categories.Count, barGroups));
            sb.Append("  <line x1=\"").Append(x).Append("\" y1=\"").Append(Height - Bottom).Append("\" x2=\"").Append(x).Append("\" y2=\"").Append(Height - Bottom + 5).AppendLine("\" stroke=\"black\"/>");
            sb.Append("  <text x=\"").Append(x).Append("\" y=\"").Append(Height - Bottom + 20).Append("\" text-anchor=\"middle\">").Append(Escape(categories[i])).AppendLine("</text>");
        }
    }

    private static void Legend(StringBuilder sb, IReadOnlyList<ChartSeries> series)
    {
        for (var s = 0; s < series.Count; s++)
        {
            var y = Top + 10 + s * 22;
            sb.Append("  <rect x=\"").Append(Width - Right + 15).Append("\" y=\"").Append(y - 9).Append("\" width=\"14\" height=\"14\" fill=\"").Append(Colors[s % Colors.Length]).AppendLine("\"/>");
            sb.Append("  <text class=\"legend\" x=\"").Append(Width - Right + 35).Append("\" y=\"").Append(y + 2).Append("\">").Append(Escape(series[s].Name)).AppendLine("</text>");
        }
    }

    private static string End(StringBuilder sb) => sb.AppendLine("</svg>").ToString();

    /// <summary>A tick or tooltip number: 3 significant digits, thousands as k/M.</summary>
    public static string Number(double v)
    {
        var a = Math.Abs(v);
        if (a >= 1e9)
            return (v / 1e9).ToString("0.##", CultureInfo.InvariantCulture) + "G";
        if (a >= 1e6)
            return (v / 1e6).ToString("0.##", CultureInfo.InvariantCulture) + "M";
        if (a >= 1e4)
            return (v / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "k";
        if (a >= 100 || a == 0)
            return v.ToString("0", CultureInfo.InvariantCulture);
        return v.ToString(a >= 10 ? "0.#" : a >= 1 ? "0.##" : "0.###", CultureInfo.InvariantCulture);
    }

    private static string F(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);

    private static string Escape(string text) => text.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&quot;", StringComparison.Ordinal);
}
