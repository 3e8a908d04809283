using CollabHub.Protocol;

namespace CollabHub.Client;

/// <summary>
/// A write of the queue ended: answered or failed for good; see <see cref="CollabClient.Settled"/>. As the JS SDK's
/// <c>settled</c> event.
/// </summary>
/// <param name="MutationId">The write's mutation id.</param>
/// <param name="RoomId">Its room.</param>
/// <param name="Kind">What it was.</param>
/// <param name="Key">The key of a set or delete; null for a post or a batch.</param>
/// <param name="Result">The answer (a <see cref="WriteResult"/>, <see cref="PostResult"/> or <see cref="BatchResult"/>), or null when it failed.</param>
/// <param name="Error">Why it failed for good, or null when it was answered.</param>
public sealed record SettledWrite(string MutationId, string RoomId, WriteKind Kind, string? Key, object? Result, CollabHubException? Error);
