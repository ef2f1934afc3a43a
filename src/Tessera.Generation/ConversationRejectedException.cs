namespace Tessera.Generation;

/// <summary>The model's chat template cannot render the conversation (roles out of order, a template error); the message says why.</summary>
public sealed class ConversationRejectedException(string message, Exception? inner = null) : Exception(message, inner);
