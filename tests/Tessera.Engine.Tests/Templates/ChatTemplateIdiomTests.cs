using Tessera.Engine.Templates;
using Tessera.Generation;
using Tessera.Jinja;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Templates;

/// <summary>Constructs from other widely used chat templates (Llama 3.2, Qwen 3, DeepSeek R1), beyond the five in testdata.</summary>
public sealed class ChatTemplateIdiomTests
{
    private static readonly ChatMessage[] Conversation =
    [
        new("user", "Hi"),
        new("assistant", "<think>\nhmm\n</think>\n\nHello!"),
        new("user", "Bye"),
    ];

    [Fact]
    public void Llama32StyleDate_ComesFromTheInjectedClock()
    {
        const string source = """
            {%- if not date_string is defined %}
                {%- if strftime_now is defined %}
                    {%- set date_string = strftime_now("%d %b %Y") %}
                {%- else %}
                    {%- set date_string = "26 Jul 2024" %}
                {%- endif %}
            {%- endif %}
            {{- "Today Date: " + date_string }}
            """;
        var options = new ChatTemplateOptions { Clock = new FixedClock(new DateTimeOffset(2025, 3, 9, 23, 59, 0, TimeSpan.Zero)) };

        Assert.Equal("Today Date: 09 Mar 2025", ChatTemplate.Parse(source).Render(Conversation, options));
    }

    [Fact]
    public void Qwen3StyleReverseScan_FindsTheLastUserQuery()
    {
        const string source = """
            {%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
            {%- for message in messages[::-1] %}
                {%- set index = (messages|length - 1) - loop.index0 %}
                {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
                    {%- set ns.multi_step_tool = false %}
                    {%- set ns.last_query_index = index %}
                {%- endif %}
            {%- endfor %}
            {{- ns.last_query_index }}
            """;

        Assert.Equal("2", ChatTemplate.Parse(source).Render(Conversation, new ChatTemplateOptions()));
    }

    [Fact]
    public void DeepSeekStyleThinkStripping()
    {
        const string source = """
            {% for message in messages %}
            {% set content = message['content'] %}
            {% if '</think>' in content %}
            {% set content = content.split('</think>')[-1].lstrip('\n') %}
            {% endif %}
            <{{ message['role'] }}>{{ content }}
            {% endfor %}
            """;

        Assert.Equal("<user>Hi\n<assistant>Hello!\n<user>Bye\n", ChatTemplate.Parse(source).Render(Conversation, new ChatTemplateOptions()));
    }
}
