namespace Tessera.Jinja;

/// <summary>
/// The template itself refused the input by calling <c>raise_exception(message)</c>, for example
/// "Conversation roles must alternate user/assistant/user/assistant/...".
/// <see cref="Exception.Message"/> is exactly the template's message.
/// </summary>
public sealed class TemplateRaisedException : TemplateException
{
    public TemplateRaisedException(string message, int? line, int? column)
        : base(message, line, column)
    {
    }
}
