namespace CollabHub.Client;

/// <summary>Options of one write: exactly-once and compare-and-set.</summary>
/// <param name="MutationId">
/// Makes a retry of this write return the first result instead of applying it again. <see cref="CollabClient"/> makes
/// a random one when this is null; <see cref="CollabConnection"/> sends none then.
/// </param>
/// <param name="ExpectedVersion">Apply only if the key's version equals this (0 = the key must not exist).</param>
public sealed record WriteOptions(string? MutationId = null, long? ExpectedVersion = null);
