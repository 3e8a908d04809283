using System.Globalization;
using System.Net;
using System.Text;

namespace CollabHub.Bench.Reporting;

/// <summary>One line of a chart: a name and its points; lines with the same <paramref name="ColourKey"/> (a system) share a colour.</summary>
internal sealed record ChartSeries(string Name, IReadOnlyList<(double X, double Y)> Points, bool Dashed = false, string? ColourKey = null);

/// <summary>
/// A line chart as a standalone SVG file: axes with ticks (x linear or log10), one coloured line per series, a
/// legend. Small on purpose: enough to see a comparison at a glance in a Markdown page.
/// </summary>
internal sealed record SvgChart(string Title, string XLabel, string YLabel, bool LogX, bool LogY, IReadOnlyList<ChartSeries> Series)
{
    private const int Width = 880;
    private const int Height = 420;
    private const int Left = 80;
    private const int Right = 300;
    private const int Top = 40;
    private const int Bottom = 60;

    private static readonly string[] Colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

    public string Render()
    {
        var points = Series.SelectMany(s => s.Points).Where(p => Valid(p.X, LogX) && Valid(p.Y, LogY)).ToList();
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(CultureInfo.InvariantCulture, $"<rect width=\"{Width}\" height=\"{Height}\" fill=\"white\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width / 2}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">{Escape(Title)}</text>\n");
        if (points.Count == 0)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width / 2}\" y=\"{Height / 2}\" text-anchor=\"middle\">no data</text>\n</svg>\n");
            return svg.ToString();
        }
        var (xMin, xMax) = Range(points.Select(p => p.X), LogX);
        var (yMin, yMax) = Range(points.Select(p => p.Y), LogY);
        if (!LogY)
        {
            yMin = 0;
        }
        double Px(double x) => Left + (Scale(x, LogX) - Scale(xMin, LogX)) / (Scale(xMax, LogX) - Scale(xMin, LogX)) * (Width - Left - Right);
        double Py(double y) => Height - Bottom - (Scale(y, LogY) - Scale(yMin, LogY)) / (Scale(yMax, LogY) - Scale(yMin, LogY)) * (Height - Top - Bottom);

        // Axes, ticks and grid.
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{Height - Bottom}\" x2=\"{Width - Right}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{Top}\" x2=\"{Left}\" y2=\"{Height - Bottom}\" stroke=\"black\"/>\n");
        foreach (var x in Ticks(xMin, xMax, LogX))
        {
            var px = Px(x);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{px:F1}\" y1=\"{Top}\" x2=\"{px:F1}\" y2=\"{Height - Bottom}\" stroke=\"#eee\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{px:F1}\" y=\"{Height - Bottom + 16}\" text-anchor=\"middle\">{Format(x)}</text>\n");
        }
        foreach (var y in Ticks(yMin, yMax, LogY))
        {
            var py = Py(y);
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Left}\" y1=\"{py:F1}\" x2=\"{Width - Right}\" y2=\"{py:F1}\" stroke=\"#eee\"/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Left - 6}\" y=\"{py + 4:F1}\" text-anchor=\"end\">{Format(y)}</text>\n");
        }
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{(Left + Width - Right) / 2}\" y=\"{Height - 18}\" text-anchor=\"middle\">{Escape(XLabel)}</text>\n");
        svg.Append(CultureInfo.InvariantCulture, $"<text transform=\"translate(18,{(Top + Height - Bottom) / 2}) rotate(-90)\" text-anchor=\"middle\">{Escape(YLabel)}</text>\n");

        var colourKeys = Series.Select(s => s.ColourKey ?? s.Name).Distinct().ToList();
        for (var i = 0; i < Series.Count; i++)
        {
            var series = Series[i];
            var colour = Colours[colourKeys.IndexOf(series.ColourKey ?? series.Name) % Colours.Length];
            var dash = series.Dashed ? " stroke-dasharray=\"6 4\"" : "";
            var line = series.Points.Where(p => Valid(p.X, LogX) && Valid(p.Y, LogY)).OrderBy(p => p.X).ToList();
            if (line.Count > 1)
            {
                var path = string.Join(' ', line.Select(p => string.Create(CultureInfo.InvariantCulture, $"{Px(p.X):F1},{Py(p.Y):F1}")));
                svg.Append(CultureInfo.InvariantCulture, $"<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash} points=\"{path}\"/>\n");
            }
            foreach (var p in line)
            {
                svg.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{Px(p.X):F1}\" cy=\"{Py(p.Y):F1}\" r=\"3\" fill=\"{colour}\"/>\n");
            }
            var ly = Top + 10 + i * 20;
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Width - Right + 15}\" y1=\"{ly}\" x2=\"{Width - Right + 40}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\n");
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Width - Right + 46}\" y=\"{ly + 4}\">{Escape(series.Name)}</text>\n");
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }

    private static bool Valid(double v, bool log) => double.IsFinite(v) && (!log || v > 0);

    private static double Scale(double v, bool log) => log ? Math.Log10(v) : v;

    private static (double Min, double Max) Range(IEnumerable<double> values, bool log)
    {
        var list = values.ToList();
        double min = list.Min(), max = list.Max();
        if (log)
        {
            min = Math.Pow(10, Math.Floor(Math.Log10(min)));
            max = Math.Pow(10, Math.Ceiling(Math.Log10(max)));
            return min == max ? (min, min * 10) : (min, max);
        }
        var step = NiceStep(max - Math.Min(min, 0));
        max = Math.Ceiling(max / step) * step;
        return max <= min ? (min, min + 1) : (min, max);
    }

    private static double NiceStep(double span)
    {
        if (span <= 0)
        {
            return 1;
        }
        var raw = span / 5;
        var power = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var fraction = raw / power;
        return power * (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10);
    }

    private static IEnumerable<double> Ticks(double min, double max, bool log)
    {
        if (log)
        {
            for (var v = min; v <= max * 1.0001; v *= 10)
            {
                yield return v;
            }
            yield break;
        }
        var step = NiceStep(max - min);
        for (var v = Math.Ceiling(min / step) * step; v <= max + step / 1000; v += step)
        {
            yield return v;
        }
    }

    private static string Format(double v) => Math.Abs(v) switch
    {
        >= 1_000_000 => (v / 1_000_000).ToString("0.#", CultureInfo.InvariantCulture) + "M",
        >= 1_000 => (v / 1_000).ToString("0.#", CultureInfo.InvariantCulture) + "k",
        >= 1 or 0 => v.ToString("0.##", CultureInfo.InvariantCulture),
        _ => v.ToString("0.###", CultureInfo.InvariantCulture),
    };

    private static string Escape(string text) => WebUtility.HtmlEncode(text);
}
