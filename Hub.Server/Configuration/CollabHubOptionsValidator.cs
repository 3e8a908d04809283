using Microsoft.Extensions.Options;

namespace CollabHub.Server.Configuration;

/// <summary>Checks every setting at start-up (source-generated from the attributes on the options classes).</summary>
[OptionsValidator]
internal sealed partial class CollabHubOptionsValidator : IValidateOptions<CollabHubOptions>
{
}
