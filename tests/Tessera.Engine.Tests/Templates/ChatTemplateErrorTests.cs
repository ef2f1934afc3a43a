using Tessera.Engine.Templates;
using Tessera.Jinja;

namespace Tessera.Engine.Tests.Templates;

/// <summary>A chat template's errors are the Jinja interpreter's, and its options reach the render.</summary>
public sealed class ChatTemplateErrorTests
{
    [Fact]
    public void SyntaxErrors_AreChatTemplateExceptions() =>
        Assert.IsAssignableFrom<TemplateException>(Assert.ThrowsAny<TemplateException>(() => ChatTemplate.Parse("{% if %}")));

    [Fact]
    public void ChatTemplateOptions_LimitsApply()
    {
        var template = ChatTemplate.Parse("{% for m in messages %}{{ m.content }}{% endfor %}");
        var options = new ChatTemplateOptions { Limits = new JinjaRenderLimits { MaxOutputLength = 5 } };

        Assert.Throws<TemplateLimitExceededException>(() => template.Render([new("user", "0123456789")], options));
    }
}
