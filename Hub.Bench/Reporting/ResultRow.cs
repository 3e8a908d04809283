using CollabHub.Bench.Measurement;

namespace CollabHub.Bench.Reporting;

/// <summary>
/// One line of a scenario's table: one system under one case (e.g. "N=100, 1000 writes/s").
/// <see cref="Throughput"/> is what the case counts per second (its unit in <see cref="Unit"/>); the latencies are
/// in milliseconds; <see cref="Resources"/> is null for a row that measured nothing (a case not run or broken);
/// <see cref="Extra"/> holds what only this scenario measures (column name → value as shown).
/// </summary>
internal sealed record ResultRow(
    string Scenario,
    string Case,
    string System,
    double? Throughput,
    string Unit,
    double? P50Ms,
    double? P95Ms,
    double? P99Ms,
    Resources? Resources)
{
    /// <summary>Scenario-specific columns, in the order they are shown.</summary>
    public List<KeyValuePair<string, string>> Extra { get; init; } = [];

    /// <summary>The x value of this row in the scenario's charts (an offered rate, a writer or connection count).</summary>
    public double? ChartX { get; init; }

    /// <summary>Extra numbers for charts only (e.g. memory per connection), by name.</summary>
    public Dictionary<string, double> ChartValues { get; init; } = [];

    /// <summary>This row's throughput over CollabHub's in the same case; set when the table is made.</summary>
    public double? RatioToCollabHub { get; set; }

    /// <summary>True when the case did not complete for this system (a deadline hit, loss); said in <see cref="Extra"/>.</summary>
    public bool Incomplete { get; init; }
}
