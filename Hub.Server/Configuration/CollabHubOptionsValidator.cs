using Microsoft.Extensions.Options;

namespace CollabHub.Server.Configuration;

/// <summary>Checks every setting at start-up (source-generated from the attributes on the options classes).</summary>
[OptionsValidator]
internal sealed partial class CollabHubOptionsValidator : IValidateOptions<CollabHubOptions>
{
    /// <summary>
    /// Binds the <c>CollabHub</c> section and validates it: the server's one copy of its settings. Throws
    /// <see cref="OptionsValidationException"/> naming every failure.
    /// </summary>
    public static CollabHubOptions Load(IConfiguration section)
    {
        var settings = section.Get<CollabHubOptions>() ?? new CollabHubOptions();
        var result = new CollabHubOptionsValidator().Validate(Options.DefaultName, settings);
        return result.Failed
            ? throw new OptionsValidationException(Options.DefaultName, typeof(CollabHubOptions), result.Failures)
            : settings;
    }
}
