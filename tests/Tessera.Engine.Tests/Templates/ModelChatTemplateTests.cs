using System.Text.Json;
using Tessera.Engine.Templates;
using Tessera.Generation;
using Tessera.Jinja;
using Tessera.Testing;

namespace Tessera.Engine.Tests.Templates;

/// <summary>
/// The five real chat templates, rendered and compared with prompts written by hand from each
/// template's logic and the model's documented format.
/// </summary>
public sealed class ModelChatTemplateTests
{
    private static readonly FixedClock Clock = new(new DateTimeOffset(2025, 3, 9, 14, 30, 0, TimeSpan.Zero));

    private static readonly ChatMessage[] WithSystem =
    [
        new("system", "You are a helpful assistant."),
        new("user", "Hello!"),
        new("assistant", "Hi there! How can I help?"),
        new("user", "What is 2+2?"),
    ];

    private static readonly ChatMessage[] WithoutSystem =
    [
        new("user", "Hello!"),
        new("assistant", "Hi there! How can I help?"),
        new("user", "What is 2+2?"),
    ];

    private static ChatTemplate Load(string file) => ChatTemplate.Parse(File.ReadAllText(TestPaths.ChatTemplate(file)));

    private static ChatTemplateOptions Options(string bos, string eos, bool addGenerationPrompt) =>
        new() { BosToken = bos, EosToken = eos, AddGenerationPrompt = addGenerationPrompt, Clock = Clock };

    private const string Llama = "meta-llama-Llama-3.1-8B-Instruct.jinja";
    private const string Qwen = "Qwen-Qwen2.5-7B-Instruct.jinja";
    private const string Mistral = "mistralai-Mistral-Nemo-Instruct-2407.jinja";
    private const string Phi = "microsoft-Phi-3.5-mini-instruct.jinja";
    private const string Gemma = "google-gemma-2-2b-it.jinja";

    private const string WeatherTool =
        """{"type": "function", "function": {"name": "get_weather", "description": "Get the weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}""";

    // ---------------- Llama 3.1 ----------------

    [Fact]
    public void Llama31_SystemAndTurns_WithGenerationPrompt()
    {
        var prompt = Load(Llama).Render(WithSystem, Options("<|begin_of_text|>", "<|eot_id|>", true));

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
            "You are a helpful assistant.<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi there! How can I help?<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
    }

    [Fact]
    public void Llama31_WithoutSystem_HasEmptySystemBlockAndNoGenerationPrompt()
    {
        var prompt = Load(Llama).Render(WithoutSystem, Options("<|begin_of_text|>", "<|eot_id|>", false));

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHello!<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\nHi there! How can I help?<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>",
            prompt);
    }

    [Fact]
    public void Llama31_DateStringVariable_ReplacesTheTemplatesDefaultDate()
    {
        // Llama 3.1's template hard-codes "26 Jul 2024" unless date_string is passed (it never reads
        // the clock); llama.cpp passes the current date this way.
        var options = Options("<|begin_of_text|>", "", true) with
        {
            ExtraVariables = new Dictionary<string, object?> { ["date_string"] = "09 Mar 2025" },
        };

        var prompt = Load(Llama).Render(WithoutSystem, options);

        Assert.Contains("Cutting Knowledge Date: December 2023\nToday Date: 09 Mar 2025\n\n<|eot_id|>", prompt);
    }

    [Fact]
    public void Llama31_TrimsMessageContent()
    {
        var prompt = Load(Llama).Render([new("system", "  Be brief.\n"), new("user", "\n Hi \n")], Options("", "", false));

        Assert.EndsWith("Today Date: 26 Jul 2024\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", prompt);
    }

    [Fact]
    public void Llama31_Tools_GoIntoTheFirstUserMessageAsIndentedJson()
    {
        var options = Options("<|begin_of_text|>", "", true) with
        {
            ExtraVariables = new Dictionary<string, object?> { ["tools"] = JsonDocument.Parse($"[{WeatherTool}]").RootElement },
        };

        var prompt = Load(Llama).Render([new("user", "Weather in Paris?")], options);

        Assert.Equal(
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n" +
            "Environment: ipython\n" +
            "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\n" +
            "Given the following functions, please respond with a JSON for a function call " +
            "with its proper arguments that best answers the given prompt.\n\n" +
            "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its value}." +
            "Do not use variables.\n\n" +
            "{\n" +
            "    \"type\": \"function\",\n" +
            "    \"function\": {\n" +
            "        \"name\": \"get_weather\",\n" +
            "        \"description\": \"Get the weather\",\n" +
            "        \"parameters\": {\n" +
            "            \"type\": \"object\",\n" +
            "            \"properties\": {\n" +
            "                \"city\": {\n" +
            "                    \"type\": \"string\"\n" +
            "                }\n" +
            "            },\n" +
            "            \"required\": [\n" +
            "                \"city\"\n" +
            "            ]\n" +
            "        }\n" +
            "    }\n" +
            "}\n\n" +
            "Weather in Paris?<|eot_id|>" +
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
    }

    [Fact]
    public void Llama31_ToolsWithoutAUserMessage_RaisesTheTemplatesError()
    {
        var options = Options("", "", true) with
        {
            ExtraVariables = new Dictionary<string, object?> { ["tools"] = JsonDocument.Parse($"[{WeatherTool}]").RootElement },
        };

        var error = Assert.Throws<TemplateRaisedException>(() => Load(Llama).Render([new("system", "sys")], options));

        Assert.Equal("Cannot put tools in the first user message when there's no first user message!", error.Message);
    }

    // ---------------- Qwen 2.5 ----------------

    [Fact]
    public void Qwen25_SystemAndTurns_WithGenerationPrompt()
    {
        var prompt = Load(Qwen).Render(WithSystem, Options("", "<|im_end|>", true));

        Assert.Equal(
            "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nHello!<|im_end|>\n" +
            "<|im_start|>assistant\nHi there! How can I help?<|im_end|>\n" +
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n" +
            "<|im_start|>assistant\n",
            prompt);
    }

    [Fact]
    public void Qwen25_WithoutSystem_UsesTheDefaultSystemPrompt()
    {
        var prompt = Load(Qwen).Render(WithoutSystem, Options("", "<|im_end|>", false));

        Assert.Equal(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nHello!<|im_end|>\n" +
            "<|im_start|>assistant\nHi there! How can I help?<|im_end|>\n" +
            "<|im_start|>user\nWhat is 2+2?<|im_end|>\n",
            prompt);
    }

    [Fact]
    public void Qwen25_Tools_AreListedAsCompactJsonInTheSystemPrompt()
    {
        var options = Options("", "", true) with
        {
            ExtraVariables = new Dictionary<string, object?> { ["tools"] = JsonDocument.Parse($"[{WeatherTool}]").RootElement },
        };

        var prompt = Load(Qwen).Render([new("user", "Weather in Paris?")], options);

        Assert.Equal(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n" +
            "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" +
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n" +
            WeatherTool + "\n</tools>\n\n" +
            "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n" +
            "<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" +
            "<|im_start|>user\nWeather in Paris?<|im_end|>\n" +
            "<|im_start|>assistant\n",
            prompt);
    }

    // ---------------- Mistral Nemo ----------------

    [Fact]
    public void MistralNemo_SystemAndTurns_PutsSystemIntoTheLastUserTurn()
    {
        var prompt = Load(Mistral).Render(WithSystem, Options("<s>", "</s>", true));

        Assert.Equal(
            "<s>[INST]Hello![/INST]Hi there! How can I help?</s>" +
            "[INST]You are a helpful assistant.\n\nWhat is 2+2?[/INST]",
            prompt);
    }

    [Fact]
    public void MistralNemo_WithoutSystem()
    {
        var prompt = Load(Mistral).Render(WithoutSystem, Options("<s>", "</s>", false));

        Assert.Equal("<s>[INST]Hello![/INST]Hi there! How can I help?</s>[INST]What is 2+2?[/INST]", prompt);
    }

    [Fact]
    public void MistralNemo_NonAlternatingRoles_RaisesTheTemplatesError()
    {
        var error = Assert.Throws<TemplateRaisedException>(() =>
            Load(Mistral).Render([new("user", "a"), new("user", "b")], Options("<s>", "</s>", true)));

        Assert.Equal("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...", error.Message);
        Assert.NotNull(error.Line);
    }

    [Fact]
    public void MistralNemo_LateSystemMessage_RaisesTheTemplatesError()
    {
        var error = Assert.Throws<TemplateRaisedException>(() =>
            Load(Mistral).Render([new("user", "a"), new("system", "b")], Options("<s>", "</s>", true)));

        Assert.Equal("Only user and assistant roles are supported, with the exception of an initial optional system message!", error.Message);
    }

    // ---------------- Phi 3.5 ----------------

    [Fact]
    public void Phi35_SystemAndTurns_WithGenerationPrompt()
    {
        var prompt = Load(Phi).Render(WithSystem, Options("<s>", "<|endoftext|>", true));

        Assert.Equal(
            "<|system|>\nYou are a helpful assistant.<|end|>\n" +
            "<|user|>\nHello!<|end|>\n" +
            "<|assistant|>\nHi there! How can I help?<|end|>\n" +
            "<|user|>\nWhat is 2+2?<|end|>\n" +
            "<|assistant|>\n",
            prompt);
    }

    [Fact]
    public void Phi35_WithoutSystemOrGenerationPrompt_EndsWithEos()
    {
        var prompt = Load(Phi).Render(WithoutSystem, Options("<s>", "<|endoftext|>", false));

        Assert.Equal(
            "<|user|>\nHello!<|end|>\n" +
            "<|assistant|>\nHi there! How can I help?<|end|>\n" +
            "<|user|>\nWhat is 2+2?<|end|>\n" +
            "<|endoftext|>",
            prompt);
    }

    [Fact]
    public void Phi35_EmptySystemMessage_IsLeftOut()
    {
        var prompt = Load(Phi).Render([new("system", ""), new("user", "Hi")], Options("", "", true));

        Assert.Equal("<|user|>\nHi<|end|>\n<|assistant|>\n", prompt);
    }

    // ---------------- Gemma 2 ----------------

    [Fact]
    public void Gemma2_SystemMessage_RaisesTheTemplatesError()
    {
        var error = Assert.Throws<TemplateRaisedException>(() =>
            Load(Gemma).Render(WithSystem, Options("<bos>", "<eos>", true)));

        Assert.Equal("System role not supported", error.Message);
    }

    [Fact]
    public void Gemma2_WithoutSystem_WithGenerationPrompt_MapsAssistantToModel()
    {
        var prompt = Load(Gemma).Render(WithoutSystem, Options("<bos>", "<eos>", true));

        Assert.Equal(
            "<bos><start_of_turn>user\nHello!<end_of_turn>\n" +
            "<start_of_turn>model\nHi there! How can I help?<end_of_turn>\n" +
            "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n" +
            "<start_of_turn>model\n",
            prompt);
    }

    [Fact]
    public void Gemma2_WithoutGenerationPrompt_TrimsContent()
    {
        var prompt = Load(Gemma).Render([new("user", "  Hello!\n\n")], Options("<bos>", "<eos>", false));

        Assert.Equal("<bos><start_of_turn>user\nHello!<end_of_turn>\n", prompt);
    }

    [Fact]
    public void Gemma2_NonAlternatingRoles_RaisesTheTemplatesError()
    {
        var error = Assert.Throws<TemplateRaisedException>(() =>
            Load(Gemma).Render([new("user", "a"), new("assistant", "b"), new("assistant", "c")], Options("<bos>", "", true)));

        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", error.Message);
    }

    // ---------------- All ----------------

    [Theory]
    [InlineData(Llama)]
    [InlineData(Qwen)]
    [InlineData(Mistral)]
    [InlineData(Phi)]
    [InlineData(Gemma)]
    public void ParsedTemplate_RendersTheSameTwice(string file)
    {
        var template = Load(file);
        var options = Options("<s>", "</s>", true);

        Assert.Equal(template.Render(WithoutSystem, options), template.Render(WithoutSystem, options));
    }

    [Fact]
    public void ExtraVariables_MayNotRedefineMessages()
    {
        var options = Options("", "", true) with { ExtraVariables = new Dictionary<string, object?> { ["messages"] = "x" } };

        var error = Assert.Throws<ArgumentException>(() => Load(Phi).Render(WithoutSystem, options));

        Assert.Contains("'messages'", error.Message);
    }
}
