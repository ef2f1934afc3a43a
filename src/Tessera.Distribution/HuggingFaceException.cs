using System.Net;

namespace Tessera.Distribution;

/// <summary>Hugging Face refused a download (not found, needs a token, other HTTP errors), with what to do about it.</summary>
public sealed class HuggingFaceException : TransferException
{
    public HuggingFaceException(string message, HttpStatusCode? statusCode = null, Exception? inner = null)
        : base(message, inner)
    {
        StatusCode = statusCode;
    }

    public HttpStatusCode? StatusCode { get; }
}
