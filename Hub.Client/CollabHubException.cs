using CollabHub.Protocol;

namespace CollabHub.Client;

/// <summary>The hub refused a call; <see cref="Code"/> says why (one of <see cref="ErrorCodes"/>).</summary>
public sealed class CollabHubException : Exception
{
    /// <summary>Creates the exception from the hub's error message.</summary>
    /// <param name="code">The stable error code, or <c>unknown</c> when the message carried none.</param>
    /// <param name="message">The hub's message.</param>
    /// <param name="innerException">The SignalR exception that carried it.</param>
    public CollabHubException(string code, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
    }

    /// <summary>The stable error code, such as <see cref="ErrorCodes.InvalidRoom"/>.</summary>
    public string Code { get; }
}
