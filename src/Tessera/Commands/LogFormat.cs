namespace Tessera.Cli.Commands;

/// <summary>How a long-running command writes its log (<c>--log-format</c>).</summary>
internal enum LogFormat
{
    /// <summary>One line per message, for people; what the command prints for you goes to stdout.</summary>
    Text,

    /// <summary>One JSON object per line on stderr, for log collectors; what the command prints for you is logged the same way.</summary>
    Json,
}
