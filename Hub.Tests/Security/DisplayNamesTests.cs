using CollabHub.Server.Security;

namespace CollabHub.Tests.Security;

/// <summary>The name rules: names from tokens are cleaned, names users pick are refused when they break the rule.</summary>
public sealed class DisplayNamesTests
{
    [Theory]
    [InlineData("Ada Lovelace", "Ada Lovelace")]
    [InlineData("  Ada  ", "Ada")]
    [InlineData("Ada\0Love\u001Blace", "AdaLovelace")]
    [InlineData("Ada\r\nLovelace", "Ada Lovelace")]
    [InlineData("Ada \t  Lovelace", "Ada Lovelace")]
    [InlineData("\u202Eecalevol adA", "ecalevol adA")]
    [InlineData("a\u2066b\u2067c\u2068d\u2069e\u200Ef\u200Fg\u061Ch\u202Ai", "abcdefghi")]
    [InlineData("😀 smile", "😀 smile")]
    public void A_token_name_loses_control_and_bidi_characters_and_extra_white_space(string raw, string shown) =>
        Assert.Equal(shown, DisplayNames.Clean(raw, "user-1"));

    [Fact]
    public void A_token_name_loses_unpaired_surrogates() =>
        // Built in code: attribute arguments cannot carry a lone surrogate.
        Assert.Equal("lone surrogate", DisplayNames.Clean("lone " + (char)0xD800 + " surrogate", "user-1"));

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\u202E\u0000\u001B")]
    public void A_token_name_with_nothing_showable_falls_back_to_the_user_id(string? raw) =>
        Assert.Equal("user-1", DisplayNames.Clean(raw, "user-1"));

    [Fact]
    public void A_long_token_name_is_cut_to_the_limit_never_inside_a_surrogate_pair()
    {
        Assert.Equal(new string('n', DisplayNames.MaxLength), DisplayNames.Clean(new string('n', 10_000), "u"));

        var emojis = string.Concat(Enumerable.Repeat("😀", 40));
        var cut = DisplayNames.Clean(emojis, "u");
        Assert.Equal(DisplayNames.MaxLength, cut.Length);
        Assert.False(char.IsHighSurrogate(cut[^1]));
    }

    [Theory]
    [InlineData("ada", true)]
    [InlineData("", false)]
    [InlineData("a\nda", false)]
    [InlineData("nul\0", false)]
    [InlineData("rtl\u202Eevil", false)]
    public void Chosen_names_and_user_ids_that_break_the_rule_are_refused(string name, bool accepted)
    {
        Assert.Equal(accepted, DisplayNames.TryNormalize(name, out _));
        Assert.Equal(accepted, DisplayNames.IsValidUserId(name));
    }

    [Fact]
    public void A_user_id_longer_than_the_limit_is_refused() =>
        Assert.False(DisplayNames.IsValidUserId(new string('u', DisplayNames.MaxUserIdLength + 1)));
}
